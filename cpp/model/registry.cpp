// registry.cpp — kind -> factory, the LayerConfig readers and the helpers every layer shares.
#include <algorithm>
#include <stdexcept>

#include "model/layer.h"

namespace lstmcore {

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void dropout_mask(float* mask, long n, float rate, uint64_t seed, uint64_t salt) {
  const float keep = 1.0f / (1.0f - rate);
  const uint64_t base = mix64(seed ^ mix64(salt));
  for (long i = 0; i < n; ++i) mask[i] = uniform01(base + (uint64_t)i) >= rate ? keep : 0.0f;
}

std::string dims_str(const Dims& d) {
  return d.seq ? "(" + std::to_string(d.B) + ", " + std::to_string(d.T) + ", " + std::to_string(d.F) + ")"
               : "(" + std::to_string(d.B) + ", " + std::to_string(d.F) + ")";
}

// ---- registry ---------------------------------------------------------------------------------
namespace {
std::map<std::string, LayerFactory>& registry() {
  static std::map<std::string, LayerFactory> r;  // filled by the registrars before main
  return r;
}
}  // namespace

LayerRegistrar::LayerRegistrar(const char* kind, LayerFactory factory) { registry()[kind] = factory; }

std::unique_ptr<Layer> make_layer(const LayerConfig& config, LayerParams& params) {
  auto it = registry().find(config.kind());
  if (it == registry().end()) {
    std::string known;
    for (const auto& k : layer_kinds()) known += (known.empty() ? "" : ", ") + k;
    throw std::invalid_argument("unknown native layer kind `" + config.kind().substr(0, 100) +
                                "`; known kinds: " + known);
  }
  return it->second(config, params);
}

std::vector<std::string> layer_kinds() {
  std::vector<std::string> out;
  for (const auto& kv : registry()) out.push_back(kv.first);
  return out;  // std::map: already sorted
}

// ---- LayerConfig ------------------------------------------------------------------------------
const LayerConfig::Value* LayerConfig::find(const std::string& key, const char* want,
                                            bool required) const {
  auto it = values_.find(key);
  if (it == values_.end()) {
    if (required)
      throw std::invalid_argument("layer `" + kind_ + "`: the config needs `" + key + "` (" + want + ")");
    return nullptr;
  }
  return &it->second;
}

static std::invalid_argument wrong_type(const std::string& kind, const std::string& key, const char* want) {
  return std::invalid_argument("layer `" + kind + "`: config `" + key + "` must be " + want);
}

long LayerConfig::get_int(const std::string& key) const {
  const Value* v = find(key, "an integer", true);
  if (const long* p = std::get_if<long>(v)) return *p;
  throw wrong_type(kind_, key, "an integer");
}

long LayerConfig::get_int(const std::string& key, long fallback) const {
  return has(key) ? get_int(key) : fallback;
}

double LayerConfig::get_float(const std::string& key, double fallback) const {
  const Value* v = find(key, "a number", false);
  if (!v) return fallback;
  if (const double* p = std::get_if<double>(v)) return *p;
  if (const long* p = std::get_if<long>(v)) return (double)*p;
  throw wrong_type(kind_, key, "a number");
}

bool LayerConfig::get_bool(const std::string& key, bool fallback) const {
  const Value* v = find(key, "a bool", false);
  if (!v) return fallback;
  if (const bool* p = std::get_if<bool>(v)) return *p;
  throw wrong_type(kind_, key, "a bool");
}

const std::string& LayerConfig::get_str(const std::string& key) const {
  const Value* v = find(key, "a string", true);
  if (const std::string* p = std::get_if<std::string>(v)) return *p;
  throw wrong_type(kind_, key, "a string");
}

int LayerConfig::get_activation(const std::string& key, const char* fallback) const {
  return act_from_name(has(key) ? get_str(key) : std::string(fallback));
}

const LayerConfig& LayerConfig::get_config(const std::string& key) const {
  const Value* v = find(key, "a layer config", true);
  if (const auto* p = std::get_if<std::shared_ptr<LayerConfig>>(v)) return **p;
  throw wrong_type(kind_, key, "a layer config (a dict with its `kind`)");
}

}  // namespace lstmcore
