package daemon

// NewestIndexBuilds returns how many passes over the table the console's
// index of the newest decisions made.
func (d *Daemon) NewestIndexBuilds() int {
	x := d.newest.Load()
	if x == nil {
		return 0
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.builds
}
