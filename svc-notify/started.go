package notify

// Started is closed once Run has started the job queue: the process waits
// for it before it counts as started, so a probe right after start does
// not find notify "not running".
func (s *Service) Started() <-chan struct{} { return s.queue.Started() }
