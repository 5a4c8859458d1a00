package fode

import "sync"

// parallelWork is the field cost, rows × max(NumParams, Dim), above which a
// RowwiseField is evaluated on slices of the batch in parallel. It is about
// the number of multiply-adds of one evaluation of a dense field; below it
// the goroutine hand-off costs more than it saves.
const parallelWork = 1 << 15

// rowPool evaluates a RowwiseField on contiguous row blocks with a fixed set
// of goroutines that live for one solve. Jobs travel by value over channels,
// so a call allocates nothing.
type rowPool struct {
	f       Field
	theta   []float64
	dim     int
	rows    int
	workers int
	jobs    chan rowJob
	done    chan error
	wg      sync.WaitGroup
	// thetabar holds one parameter-cotangent accumulator per worker, so
	// concurrent VJPs never write the same slice; reduce sums them.
	thetabar [][]float64
}

type rowJob struct {
	vjp     bool
	worker  int
	t       float64
	dst, x  []float64
	v       []float64
	withPar bool
}

// newRowPool returns nil when parallel evaluation would not pay.
func newRowPool(f Field, theta []float64, rows, workers int) *rowPool {
	rw, ok := f.(RowwiseField)
	if !ok || !rw.Rowwise() || rows < 2 {
		return nil
	}
	workers = min(workers, rows)
	if workers < 2 || rows*max(f.NumParams(), f.Dim()) < parallelWork {
		return nil
	}
	p := &rowPool{f: f, theta: theta, dim: f.Dim(), rows: rows, workers: workers,
		jobs: make(chan rowJob), done: make(chan error, workers)}
	for range workers - 1 {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.jobs {
				p.done <- p.do(j)
			}
		}()
	}
	return p
}

func (p *rowPool) do(j rowJob) error {
	if !j.vjp {
		return p.f.Eval(j.dst, j.t, j.x, p.theta)
	}
	var tb []float64
	if j.withPar {
		tb = p.thetabar[j.worker]
	}
	return p.f.VJP(j.dst, tb, j.t, j.x, p.theta, j.v)
}

// run splits the rows into one block per worker; the calling goroutine
// takes the last block itself.
func (p *rowPool) run(job rowJob) error {
	per := (p.rows + p.workers - 1) / p.workers
	sent := 0
	var err error
	for w := 0; w < p.workers; w++ {
		lo, hi := w*per*p.dim, min((w+1)*per, p.rows)*p.dim
		if lo >= hi {
			break
		}
		b := job
		b.worker = w
		b.dst, b.x = job.dst[lo:hi], job.x[lo:hi]
		if job.v != nil {
			b.v = job.v[lo:hi]
		}
		if hi == p.rows*p.dim {
			err = p.do(b)
			break
		}
		p.jobs <- b
		sent++
	}
	for range sent {
		if e := <-p.done; e != nil && err == nil {
			err = e
		}
	}
	return err
}

// close stops the workers.
func (p *rowPool) close() {
	close(p.jobs)
	p.wg.Wait()
}
