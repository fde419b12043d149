// enable() / disable(): the table's rows installed through torch::Library objects made at run
// time. Destroying a Library removes its kernels, and the dispatcher serves PyTorch's own again.
#include "registry/registry.h"

#include "gemforge/gemforge.h"

#include <c10/util/Exception.h>
#ifdef GEMFORGE_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace gemforge::reg {
namespace {

// The dispatcher warns once per overridden kernel; overriding is the point, so stay quiet.
struct SilentWarnings final : c10::WarningHandler {
  void process(const c10::Warning&) override {}
};

std::mutex g_mutex;
std::vector<std::unique_ptr<torch::Library>> g_libraries;
Active g_active;

bool cuda_present() {
#ifdef GEMFORGE_WITH_CUDA
  return c10::cuda::device_count() > 0;
#else
  return false;
#endif
}

unsigned backend_bit(const std::string& name) {
  if (name == "cpu") return kCpu;
  if (name == "cuda") return kCuda;
  throw std::invalid_argument("gemforge: unknown backend '" + name + "'; the backends are 'cpu' and 'cuda'");
}

c10::DispatchKey dispatch_key(unsigned backend) {
  return backend == kCuda ? c10::DispatchKey::CUDA : c10::DispatchKey::CPU;
}

bool matches(const OpRow& row, const std::string& name) {
  const std::string overload = row.overload;
  if (overload == name) return true;
  // A base name covers every overload of it: "add" matches "add.Tensor", "add.out", ...
  const auto dot = overload.find('.');
  return overload.substr(0, dot) == name;
}

std::string strip_namespace(std::string name) {
  if (name.rfind("aten::", 0) == 0) name = name.substr(6);
  if (name.size() > 8 && name.compare(name.size() - 8, 8, ".default") == 0) name.resize(name.size() - 8);
  return name;
}

std::vector<bool> rows_named(const std::vector<std::string>& names) {
  const auto& table = op_table();
  std::vector<bool> picked(table.size(), false);
  for (const auto& raw : names) {
    const std::string name = strip_namespace(raw);
    bool found = false;
    for (size_t i = 0; i < table.size(); ++i) {
      if (!matches(table[i], name)) continue;
      picked[i] = found = true;
      // An alias names the rows of the overload it decomposes into.
      if (table[i].via)
        for (size_t j = 0; j < table.size(); ++j)
          if (!table[j].via && table[i].via == std::string(table[j].overload)) picked[j] = true;
    }
    if (!found)
      throw std::invalid_argument("gemforge: unknown op '" + raw +
                                  "'; gemforge.registered_ops() lists the ops gemforge serves");
  }
  return picked;
}

}  // namespace

const char* backend_name(Backend b) { return b == kCuda ? "cuda" : "cpu"; }

std::vector<std::string> available_backends() {
  std::vector<std::string> names = {"cpu"};
  if (cuda_present()) names.push_back("cuda");
  return names;
}

Active select(const std::vector<std::string>* include, const std::vector<std::string>* exclude,
              const std::vector<std::string>* backends) {
  unsigned wanted = 0;
  if (backends) {
    for (const auto& b : *backends) wanted |= backend_bit(b);
  } else {
    wanted = cuda_present() ? kCuda : kCpu;
  }
  const auto& table = op_table();
  std::vector<bool> picked = include ? rows_named(*include) : std::vector<bool>(table.size(), true);
  if (exclude) {
    const auto dropped = rows_named(*exclude);
    for (size_t i = 0; i < table.size(); ++i) picked[i] = picked[i] && !dropped[i];
  }
  Active rows;
  for (size_t i = 0; i < table.size(); ++i) {
    if (!picked[i]) continue;
    for (Backend b : {kCpu, kCuda})
      if ((wanted & b) && (table[i].backends & b)) rows.emplace_back(table[i].overload, backend_name(b));
  }
  return rows;
}

void set_active(const Active& rows) {
  std::lock_guard<std::mutex> lock(g_mutex);
  SilentWarnings silent;
  c10::WarningUtils::WarningHandlerGuard guard(&silent);
  g_libraries.clear();  // restores torch's kernels
  g_active.clear();
  const auto& table = op_table();
  for (Backend b : {kCpu, kCuda}) {
    std::unique_ptr<torch::Library> lib;
    for (const auto& [overload, backend] : rows) {
      if (backend != backend_name(b)) continue;
      const auto row = std::find_if(table.begin(), table.end(),
                                    [&](const OpRow& r) { return overload == r.overload; });
      if (row == table.end() || !(row->backends & b))
        throw std::invalid_argument("gemforge: no row '" + overload + "' for backend " + backend);
      if (!lib) {
        lib = std::make_unique<torch::Library>(torch::Library::IMPL, "aten", dispatch_key(b),
                                               __FILE__, __LINE__);
      }
      lib->impl(row->overload, row->make());
      g_active.emplace_back(overload, backend);
    }
    if (lib) g_libraries.push_back(std::move(lib));
  }
}

Active active() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_active;
}

bool any_active() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return !g_active.empty();
}

}  // namespace gemforge::reg

// ---- the public C++ API (include/gemforge/gemforge.h) -----------------------------------------
namespace gemforge {

void enable(const Names& include, const Names& exclude, const Names& backends) {
  reg::set_active(reg::select(include ? &*include : nullptr, exclude ? &*exclude : nullptr,
                              backends ? &*backends : nullptr));
}
void disable() { reg::set_active({}); }
bool is_enabled() { return reg::any_active(); }

std::vector<OpInfo> registered_ops() {
  std::vector<OpInfo> out;
  const auto& table = reg::op_table();
  for (const auto& row : table) {
    OpInfo info{row.overload, row.family, {}, row.via ? row.via : ""};
    unsigned backends = row.backends;
    if (row.via) {  // an alias is served wherever its target is
      for (const auto& target : table)
        if (!target.via && info.via == target.overload) backends = target.backends;
    }
    for (reg::Backend b : {reg::kCpu, reg::kCuda})
      if (backends & b) info.backends.push_back(reg::backend_name(b));
    out.push_back(std::move(info));
  }
  return out;
}
std::vector<std::string> available_backends() { return reg::available_backends(); }

void record_stats(bool on) { reg::g_recording.store(on); }
bool stats_recording() { return reg::g_recording.load(); }
std::vector<std::pair<std::string, int64_t>> stats() {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& row : reg::op_table()) {
    if (!row.calls) continue;  // an alias: its target counts the call
    const int64_t n = row.calls->load(std::memory_order_relaxed) - row.fallbacks->load(std::memory_order_relaxed);
    if (n > 0) out.emplace_back(row.overload, n);
  }
  return out;
}
std::vector<std::pair<std::string, int64_t>> fallbacks() {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& row : reg::op_table()) {
    if (!row.fallbacks) continue;
    const int64_t n = row.fallbacks->load(std::memory_order_relaxed);
    if (n > 0) out.emplace_back(row.overload, n);
  }
  return out;
}
int64_t served_calls(const std::string& overload) {
  static const auto* rows = [] {  // never freed: read by any thread until the process ends
    auto* by_name = new std::unordered_map<std::string, const reg::OpRow*>;
    for (const auto& row : reg::op_table())
      if (row.calls) by_name->emplace(row.overload, &row);
    return by_name;
  }();
  const auto it = rows->find(overload);
  if (it == rows->end()) return 0;
  const int64_t n = it->second->calls->load(std::memory_order_relaxed) -
                    it->second->fallbacks->load(std::memory_order_relaxed);
  return n > 0 ? n : 0;
}
void reset_stats() {
  for (const auto& row : reg::op_table()) {
    if (!row.calls) continue;
    row.calls->store(0, std::memory_order_relaxed);
    row.fallbacks->store(0, std::memory_order_relaxed);
  }
}

const char* version() { return GEMFORGE_VERSION; }

}  // namespace gemforge
