// dispatch.h — the per-ISA kernel tables and run-time selection.
//
// Each ISA translation unit (isa_generic.cpp, isa_avx2.cpp, isa_avx512.cpp, isa_neon.cpp)
// exports one KernelTable. Tables are listed best first; the first whose `needs` bits the
// CPU (and OS) provides wins, unless LSTMCORE_SIMD forces one. Kernels read the active table
// through kt(); they never detect features themselves.
//
// Adding a kernel:
//   1. one line X(ctx, my_kernel, my_kernel_fn) in LSTMCORE_KERNELS (kernel_list.h), at the
//      position its field should have (plus a `using my_kernel_fn = ...;` there if no
//      existing function-pointer type fits);
//   2. its body, `static ... my_kernel(...)` written once against the vector primitives, in
//      the kernels/*.inl file of its concern (or a new one, included from microkernels.inl).
// Nothing else: the KernelTable field below and every isa_*.cpp's initializer
// (LSTMCORE_TABLE) are generated from the list, so all ISAs pick the kernel up. Callers
// then use kt().my_kernel(...).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "simd/kernel_list.h"

namespace lstmcore {

enum CpuBits : uint32_t {
  CPU_AVX2 = 1u << 0,
  CPU_FMA = 1u << 1,
  CPU_AVX512F = 1u << 2,
  CPU_AVX512DQ = 1u << 3,
  CPU_AVX512BW = 1u << 4,
  CPU_AVX512VL = 1u << 5,
  CPU_NEON = 1u << 6,
};

struct KernelTable {
  const char* name;
  uint32_t needs;
  int mr;  // GEMM micro-tile rows
  int nr;  // GEMM micro-tile columns
  int width;  // floats per vector
  int row_width;  // columns of one gemm_row call
  // One function pointer per kernel, generated in list order from kernel_list.h.
#define LSTMCORE_KT_FIELD_(ctx, member, type) type member;
  LSTMCORE_KERNELS(LSTMCORE_KT_FIELD_, )
#undef LSTMCORE_KT_FIELD_
};

uint32_t cpu_features();                  // CPUID + XGETBV (x86) / baseline (aarch64)
std::vector<std::string> cpu_feature_names();
std::vector<const KernelTable*> compiled_tables();  // best first
std::vector<std::string> supported_levels();        // compiled in AND runnable here

// The active table. Chosen once (LSTMCORE_SIMD or best available) on first use.
const KernelTable& kt();
// Force a level by name; throws std::invalid_argument naming what the CPU has.
void set_simd_level(const std::string& name);

}  // namespace lstmcore

// The initializer of one ISA's table, for `extern const KernelTable kTableX = ...;` in
// isa_*.cpp (namespace lstmcore): name and needs as given, the GEMM tile and width from the
// ISA namespace's MR, NV_GEMM and W, then ns::member for every kernel of the list, in the
// struct's order by construction.
#define LSTMCORE_KT_INIT_(ns, member, type) ns::member,
#define LSTMCORE_TABLE(ns, level_name, level_needs)                                       \
  {                                                                                       \
    level_name, level_needs, ns::MR, ns::NV_GEMM * ns::W, ns::W, ns::ROW_NV * ns::W,      \
        LSTMCORE_KERNELS(LSTMCORE_KT_INIT_, ns)                                           \
  }
