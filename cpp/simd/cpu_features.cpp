// cpu_features.cpp — what the CPU and the OS let us run.
//
// On x86-64 a feature is usable only if CPUID reports it AND the OS saves the register
// state (XGETBV: XMM|YMM for AVX2, plus opmask|ZMM_Hi256|Hi16_ZMM for AVX-512). Checking
// CPUID alone crashes on kernels or hypervisors that disable AVX state.
#include <string>
#include <vector>

#include "simd/dispatch.h"

#if defined(__x86_64__) || defined(_M_X64)
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

namespace lstmcore {

#if defined(__x86_64__) || defined(_M_X64)
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#if defined(_MSC_VER)
  int out[4];
  __cpuidex(out, (int)leaf, (int)sub);
  for (int i = 0; i < 4; ++i) r[i] = (unsigned)out[i];
#else
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}

static unsigned long long xgetbv0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
#endif
}

static uint32_t detect() {
  unsigned r[4];
  cpuid(0, 0, r);
  unsigned max_leaf = r[0];
  cpuid(1, 0, r);
  bool osxsave = (r[2] >> 27) & 1;
  bool fma = (r[2] >> 12) & 1;
  bool avx = (r[2] >> 28) & 1;
  if (!osxsave || !avx) return 0;
  unsigned long long xcr0 = xgetbv0();
  bool ymm_ok = (xcr0 & 0x6) == 0x6;
  bool zmm_ok = (xcr0 & 0xE6) == 0xE6;
  if (!ymm_ok || max_leaf < 7) return 0;
  cpuid(7, 0, r);
  uint32_t bits = 0;
  if ((r[1] >> 5) & 1) bits |= CPU_AVX2;
  if (fma) bits |= CPU_FMA;
  if (zmm_ok) {
    if ((r[1] >> 16) & 1) bits |= CPU_AVX512F;
    if ((r[1] >> 17) & 1) bits |= CPU_AVX512DQ;
    if ((r[1] >> 30) & 1) bits |= CPU_AVX512BW;
    if ((r[1] >> 31) & 1) bits |= CPU_AVX512VL;
  }
  return bits;
}
#elif defined(__aarch64__) || defined(_M_ARM64)
static uint32_t detect() { return CPU_NEON; }  // NEON (ASIMD) is AArch64 baseline
#else
static uint32_t detect() { return 0; }
#endif

uint32_t cpu_features() {
  static const uint32_t bits = detect();
  return bits;
}

std::vector<std::string> cpu_feature_names() {
  static const char* names[] = {"avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl",
                                "neon"};
  std::vector<std::string> out;
  uint32_t bits = cpu_features();
  for (int i = 0; i < 7; ++i)
    if (bits & (1u << i)) out.push_back(names[i]);
  return out;
}

}  // namespace lstmcore
