// probe.inl — fma_probe, the FMA-throughput measurement.
// Part of microkernels.inl (see there): included inside an ISA namespace; includes nothing.

// ----------------------------------------------------------------------------------------
// fma_probe: `iters` rounds of 12 independent vector FMAs (enough to cover the FMA latency
// of every pipe on the CPUs here), 24 W flops a round: the machine's FMA throughput at the
// clock it runs now, which no nominal-clock estimate knows (VMs hide boost). The values
// stay finite and normal (x * 0.999 + 0.001 converges to 1); the sum keeps them live.
static float fma_probe(long iters) {
  V acc[12];
  for (int j = 0; j < 12; ++j) acc[j] = vset1(1.0f + 0.01f * (float)j);
  const V m = vset1(0.999f), a = vset1(0.001f);
  for (long it = 0; it < iters; ++it)
    for (int j = 0; j < 12; ++j) acc[j] = vfma(acc[j], m, a);
  V sum = acc[0];
  for (int j = 1; j < 12; ++j) sum = vadd(sum, acc[j]);
  float t[W];
  vstore(t, sum);
  return t[0];
}
