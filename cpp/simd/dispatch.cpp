// dispatch.cpp — table list, run-time selection and the LSTMCORE_SIMD override.
#include "simd/dispatch.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace lstmcore {

extern const KernelTable kTableGeneric;
#ifdef LSTMCORE_HAVE_AVX2_TU
extern const KernelTable kTableAvx2;
#endif
#ifdef LSTMCORE_HAVE_AVX512_TU
extern const KernelTable kTableAvx512;
#endif
#ifdef LSTMCORE_HAVE_NEON_TU
extern const KernelTable kTableNeon;
#endif

std::vector<const KernelTable*> compiled_tables() {
  return {
#ifdef LSTMCORE_HAVE_AVX512_TU
      &kTableAvx512,
#endif
#ifdef LSTMCORE_HAVE_AVX2_TU
      &kTableAvx2,
#endif
#ifdef LSTMCORE_HAVE_NEON_TU
      &kTableNeon,
#endif
      &kTableGeneric,
  };
}

static bool runnable(const KernelTable* t) { return (cpu_features() & t->needs) == t->needs; }

std::vector<std::string> supported_levels() {
  std::vector<std::string> out;
  for (const KernelTable* t : compiled_tables())
    if (runnable(t)) out.push_back(t->name);
  return out;
}

static const KernelTable* find_level(const std::string& name) {
  std::string have;
  for (const KernelTable* t : compiled_tables()) {
    if (name == t->name) {
      if (runnable(t)) return t;
      for (const std::string& l : supported_levels()) have += (have.empty() ? "" : ", ") + l;
      throw std::invalid_argument("SIMD level `" + name +
                                  "` is not supported by this CPU; it supports: " + have +
                                  ". Unset LSTMCORE_SIMD or pick one of those.");
    }
  }
  std::string all;
  for (const KernelTable* t : compiled_tables()) all += (all.empty() ? "" : ", ") + std::string(t->name);
  throw std::invalid_argument("unknown SIMD level `" + name + "`; this build has: " + all +
                              ". Set LSTMCORE_SIMD to one of those, or unset it.");
}

static const KernelTable* initial_table() {
  const char* env = std::getenv("LSTMCORE_SIMD");
  if (env && *env) return find_level(env);  // throws with a clear message at import
  for (const KernelTable* t : compiled_tables())
    if (runnable(t)) return t;
  return &kTableGeneric;
}

static std::atomic<const KernelTable*>& active() {
  static std::atomic<const KernelTable*> table{initial_table()};
  return table;
}

const KernelTable& kt() { return *active().load(std::memory_order_relaxed); }

void set_simd_level(const std::string& name) { active().store(find_level(name)); }

}  // namespace lstmcore
