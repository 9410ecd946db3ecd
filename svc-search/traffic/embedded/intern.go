package embedded

import "hash/maphash"

// intern maps strings to dense ids without a pointer per string: the
// bytes live in one arena and an open-addressing table of ids finds them,
// so a million session or visitor ids cost the garbage collector nothing
// to scan.
type intern struct {
	arena []byte
	ends  []uint32 // string i is arena[ends[i-1]:ends[i]]
	table []uint32 // id+1; 0 is empty
	tags  []uint32 // the hash's high bits per slot: most mismatches skip the bytes
	seed  maphash.Seed
}

func newIntern() intern {
	return intern{seed: maphash.MakeSeed(), table: make([]uint32, 64), tags: make([]uint32, 64)}
}

func (in *intern) len() int { return len(in.ends) }

func (in *intern) bytes(i uint32) []byte {
	a := uint32(0)
	if i > 0 {
		a = in.ends[i-1]
	}
	return in.arena[a:in.ends[i]]
}

func (in *intern) get(i uint32) string { return string(in.bytes(i)) }

// find answers s's id, false when s was never added.
func (in *intern) find(s string) (uint32, bool) {
	mask := uint64(len(in.table) - 1)
	hash := maphash.String(in.seed, s)
	tag := uint32(hash >> 32)
	for h := hash & mask; ; h = (h + 1) & mask {
		id := in.table[h]
		if id == 0 {
			return 0, false
		}
		if in.tags[h] == tag && string(in.bytes(id-1)) == s {
			return id - 1, true
		}
	}
}

// add answers s's id, adding it when new.
func (in *intern) add(s string) (id uint32, added bool) {
	if id, ok := in.find(s); ok {
		return id, false
	}
	if 2*(len(in.ends)+1) > len(in.table) {
		in.grow()
	}
	id = uint32(len(in.ends))
	in.arena = append(in.arena, s...)
	in.ends = append(in.ends, uint32(len(in.arena)))
	in.place(id, maphash.String(in.seed, s))
	return id, true
}

func (in *intern) place(id uint32, h uint64) {
	mask := uint64(len(in.table) - 1)
	i := h & mask
	for ; in.table[i] != 0; i = (i + 1) & mask {
	}
	in.table[i], in.tags[i] = id+1, uint32(h>>32)
}

func (in *intern) grow() {
	in.table, in.tags = make([]uint32, 2*len(in.table)), make([]uint32, 2*len(in.table))
	for i := range in.ends {
		in.place(uint32(i), maphash.Bytes(in.seed, in.bytes(uint32(i))))
	}
}
