package daemon

// CheckDataDirForTest runs the watch of the data directory once, as its
// ticker does every tamperInterval.
func (d *Daemon) CheckDataDirForTest() { d.checkTamper() }
