// Command phalanx is the phalanx member daemon and its command-line client.
package main

func main() {}
