package decision

// The expiry heap orders slots by Until; each entry knows its position, so
// that a deleted or replaced decision leaves the heap in O(log n).

func (t *Table) push(i int32) {
	t.at(i).heap = int32(len(t.expiry))
	t.expiry = append(t.expiry, i)
	t.up(len(t.expiry) - 1)
}

func (t *Table) less(a, b int) bool {
	x, y := t.at(t.expiry[a]), t.at(t.expiry[b])
	return before(x.untilSec, x.untilNsec, y.untilSec, y.untilNsec)
}

func (t *Table) swap(a, b int) {
	t.expiry[a], t.expiry[b] = t.expiry[b], t.expiry[a]
	t.at(t.expiry[a]).heap = int32(a)
	t.at(t.expiry[b]).heap = int32(b)
}

func (t *Table) up(j int) {
	for j > 0 {
		parent := (j - 1) / 2
		if !t.less(j, parent) {
			return
		}
		t.swap(j, parent)
		j = parent
	}
}

func (t *Table) down(j int) {
	n := len(t.expiry)
	for {
		c := 2*j + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && t.less(r, c) {
			c = r
		}
		if !t.less(c, j) {
			return
		}
		t.swap(j, c)
		j = c
	}
}

func (t *Table) heapRemove(j int) {
	last := len(t.expiry) - 1
	if j != last {
		t.swap(j, last)
	}
	t.expiry = t.expiry[:last]
	if j != last {
		t.down(j)
		t.up(j)
	}
}
