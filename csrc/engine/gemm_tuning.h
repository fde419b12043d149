// Runtime selection for the GEMM engine: which of cuBLASLt's candidate algorithms serves a
// problem. cuBLASLt's heuristic ranks up to kCandidates algorithms; without a table entry the
// first one runs. A table names the measured winner per problem, for one device model and one
// cuBLASLt version:
//   - shipped tables (python/gemforge/tuned/gemm-<device>.txt, tuned ahead of serving with
//     `python -m gemforge.bench.tune_gemm`),
//   - the user's cache (~/.cache/gemforge/gemm-<device>.txt, or $GEMFORGE_CACHE_DIR), where
//     tuning appends what it measures.
// Tuning (gemforge.gemm_tuning(True) or GEMFORGE_GEMM_TUNE=1) times every candidate at a
// problem's first call (that call synchronises the device) and is off unless asked for: nothing
// is tuned silently on a user's hot path. Host code only, no CUDA and no ATen.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gemforge::gemm::tuning {

// How many of the heuristic's algorithms tuning times.
constexpr int kCandidates = 8;

// A problem as the GEMM engine keys it: shapes, leading dims, batch strides, dtype, compute
// mode, transposes, epilogue and pointer alignments, packed into int64 words.
using Key = std::array<int64_t, 12>;

void set_enabled(bool on);
bool enabled();

// Where tables are read (in order; later entries win) and where tuning writes its cache.
void set_dirs(std::vector<std::string> table_dirs, std::string cache_dir);

// The table's winner for this problem on this device model (`device` is a slug like
// "nvidia-h100-80gb-hbm3") with this cuBLASLt version, if one was measured.
std::optional<int> lookup(const std::string& device, size_t cublaslt_version, const Key& key);

// Remembers a measured winner and appends it to the cache file.
void record(const std::string& device, size_t cublaslt_version, const Key& key, int choice);

// A file name's form of a device name: lower case, runs of other characters as one '-'.
std::string slug(const std::string& device_name);

}  // namespace gemforge::gemm::tuning
