package batch

// skipFast is skip's fast path. skip walks a value with one call (and one
// members or elements state) per container, member and string: for the
// small objects rrweb events are made of, the calls cost more than the
// bytes. skipFast walks the same grammar in one loop, the open containers
// on a bit stack, and accepts exactly what skipSlow accepts, ending at the
// same offset (FuzzSkipFast compares them). On anything else it answers
// false and leaves d.i alone: skip then reruns skipSlow, which names the
// error, so refusals and their messages are skipSlow's and a hostile body
// costs at most two linear passes.
func (d *decoder) skipFast(depth int) bool {
	b := d.b
	i := d.i
	// Open containers: bit set for an object, clear for an array. A
	// container opens at level depth+n and none may open past MaxDepth, so
	// at most MaxDepth+1 are ever open.
	var stack [(MaxDepth + 64) / 64]uint64
	n := 0
	var c byte

value: // at a value; the callers moved past white space
	if i >= len(b) {
		return false
	}
	switch c = b[i]; c {
	case '"':
		if i = stringEnd(b, i+1); i < 0 {
			return false
		}
		goto after
	case '{', '[':
		if depth+n > MaxDepth {
			return false
		}
		if c == '{' {
			stack[n>>6] |= 1 << (n & 63)
		} else {
			stack[n>>6] &^= 1 << (n & 63)
		}
		n++
		i = wsEnd(b, i+1)
		if i >= len(b) {
			return false
		}
		if c == '{' {
			if b[i] == '}' {
				i++
				n--
				goto after
			}
			goto key
		}
		if b[i] == ']' {
			i++
			n--
			goto after
		}
		goto value
	case 't':
		if len(b)-i < 4 || string(b[i:i+4]) != "true" {
			return false
		}
		i += 4
		goto after
	case 'f':
		if len(b)-i < 5 || string(b[i:i+5]) != "false" {
			return false
		}
		i += 5
		goto after
	case 'n':
		if len(b)-i < 4 || string(b[i:i+4]) != "null" {
			return false
		}
		i += 4
		goto after
	default:
		if c != '-' && (c < '0' || c > '9') {
			return false
		}
		if i = numberEnd(b, i); i < 0 {
			return false
		}
		goto after
	}

after: // past a value
	if n == 0 {
		d.i = i
		return true
	}
	i = wsEnd(b, i)
	if i >= len(b) {
		return false
	}
	c = b[i]
	if stack[(n-1)>>6]&(1<<((n-1)&63)) != 0 { // in an object
		switch c {
		case ',':
			i = wsEnd(b, i+1)
			goto key
		case '}':
			i++
			n--
			goto after
		}
		return false
	}
	switch c {
	case ',':
		i = wsEnd(b, i+1)
		goto value
	case ']':
		i++
		n--
		goto after
	}
	return false

key: // at a member's key, past white space
	if i >= len(b) || b[i] != '"' {
		return false
	}
	if i = stringEnd(b, i+1); i < 0 {
		return false
	}
	i = wsEnd(b, i)
	if i >= len(b) || b[i] != ':' {
		return false
	}
	i = wsEnd(b, i+1)
	goto value
}

// wsEnd is the offset of the first byte at or after i that is not JSON
// white space.
func wsEnd(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd is the offset just past the closing quote of the string whose
// body starts at i, -1 where skipString refuses it.
func stringEnd(b []byte, i int) int {
	end, _, fault := scanString(b, i)
	if fault != stringOK {
		return -1
	}
	return end
}

// numberEnd is the offset just past the number starting at i, -1 where
// skipNumber refuses it.
func numberEnd(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return -1
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return -1
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i
}

// eventsFast is the fast path of the events array walk (Events, as Decode
// and ValidateEvents run it): it checks the array at the cursor against
// the contract the way event does, one loop per event instead of one call
// per member, and answers the number of events with the cursor moved past
// the array. It answers false, the cursor left alone, on anything event
// would refuse, and also on what it does not try to read (a key with an
// escape): the callers then run the Events walk, whose answer stands.
// Accepting exactly what the walk accepts is FuzzEventsFast's to check.
func (d *decoder) eventsFast() (int, bool) {
	b := d.b
	i := wsEnd(b, d.i)
	if i >= len(b) || b[i] != '[' {
		return 0, false
	}
	i = wsEnd(b, i+1)
	n := 0
	for {
		if i >= len(b) || b[i] != '{' {
			return 0, false // also an empty array: the contract refuses it
		}
		i = wsEnd(b, i+1)
		const (
			fType = 1 << iota
			fTimestamp
			fData
		)
		var seen uint8
		for {
			// A member: its key, ':', its value.
			if i >= len(b) || b[i] != '"' {
				return 0, false // also {}: type is required
			}
			ks := i + 1
			if i = stringEnd(b, ks); i < 0 {
				return 0, false
			}
			key := b[ks : i-1]
			for _, c := range key {
				if c == '\\' {
					return 0, false // matched after unescaping: the walk's job
				}
			}
			i = wsEnd(b, i)
			if i >= len(b) || b[i] != ':' {
				return 0, false
			}
			i = wsEnd(b, i+1)
			switch string(key) {
			case "type":
				if seen&fType != 0 || i >= len(b) || b[i] < '0' || b[i] > '0'+MaxEventType || numberEnd(b, i) != i+1 {
					return 0, false
				}
				seen |= fType
				i++
			case "timestamp":
				e := numberEnd(b, i)
				if seen&fTimestamp != 0 || e < 0 {
					return 0, false
				}
				if f, err := parseFloat(b[i:e]); err != nil || !(f >= 0 && f <= MaxTimestampMs) {
					return 0, false
				}
				seen |= fTimestamp
				i = e
			case "data":
				if seen&fData != 0 || i >= len(b) {
					return 0, false
				}
				seen |= fData
				switch b[i] {
				case 'n':
					if len(b)-i < 4 || string(b[i:i+4]) != "null" {
						return 0, false
					}
					i += 4
				case '{':
					v := decoder{b: b, i: i}
					if !v.skipFast(2) {
						return 0, false
					}
					i = v.i
				default:
					return 0, false
				}
			default:
				v := decoder{b: b, i: i}
				if !v.skipFast(2) {
					return 0, false
				}
				i = v.i
			}
			i = wsEnd(b, i)
			if i >= len(b) {
				return 0, false
			}
			if b[i] == ',' {
				i = wsEnd(b, i+1)
				continue
			}
			if b[i] != '}' || seen&(fType|fTimestamp) != fType|fTimestamp {
				return 0, false
			}
			i++
			break
		}
		n++
		i = wsEnd(b, i)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = wsEnd(b, i+1)
		case ']':
			d.i = i + 1
			return n, true
		default:
			return 0, false
		}
	}
}
