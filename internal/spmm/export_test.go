package spmm

// ParallelWork exports parallelWork to the external tests.
const ParallelWork = parallelWork
