package tcp

import "time"

// RACKReoWnd reports RACK's reordering window as the next loss
// detection would use it (RFC 8985 §6.2 step 4), RACK.reo_wnd_mult, the
// windowed min_RTT and SRTT.
func (s *Sock) RACKReoWnd() (wnd time.Duration, mult int, minRTT, srtt time.Duration) {
	m, _ := s.rack.minRTT.get()
	return s.rackReoWnd(), int(s.rack.reoInc) + 1, m, s.srtt
}
