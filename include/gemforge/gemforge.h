// gemforge's C++ API for libtorch programs: link libgemforge, call gemforge::enable(), and
// unchanged ATen code (at::add, torch::matmul, ...) runs gemforge's kernels.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gemforge {

using Names = std::optional<std::vector<std::string>>;

// Serve the chosen overloads ("add.Tensor") or base names ("add" = all its overloads) on the
// chosen backends ("cpu", "cuda"). include = nullopt: every op; backends = nullopt: the
// accelerator when one is present, else cpu. Replaces what was enabled before. An unknown name
// throws std::invalid_argument.
void enable(const Names& include = std::nullopt, const Names& exclude = std::nullopt,
            const Names& backends = std::nullopt);
// Restore PyTorch's own kernels for every op.
void disable();
bool is_enabled();

struct OpInfo {
  std::string overload;
  std::string family;
  std::vector<std::string> backends;
  std::string via;  // non-empty: a composite alias that torch decomposes into this served overload
};
// Every row of the registration table.
std::vector<OpInfo> registered_ops();
// Backends this build can serve here ("cuda" needs a CUDA build and a GPU).
std::vector<std::string> available_backends();

// Call counting (off by default): overload -> calls gemforge's kernels served since the last
// reset; fallbacks(): overload -> calls that reached gemforge but ran torch's kernel.
void record_stats(bool on);
bool stats_recording();
std::vector<std::pair<std::string, int64_t>> stats();
std::vector<std::pair<std::string, int64_t>> fallbacks();
// One overload's count of stats() (0 for none), without building the whole list: for tools that
// read it around every call.
int64_t served_calls(const std::string& overload);
void reset_stats();

const char* version();

}  // namespace gemforge
