package kube

// PIDs are the running processes' ids, in start order (tests only).
func (c *Cluster) PIDs() []int {
	var pids []int
	for _, p := range c.procs() {
		if p != nil {
			if pid := p.pid(); pid != 0 {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// KWOKPID is the running KWOK's process id (0 when it is not running).
func (c *Cluster) KWOKPID() int { return c.kwok.pid() }
