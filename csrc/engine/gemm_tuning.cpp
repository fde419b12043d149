// Tables of measured GEMM algorithm choices (engine/gemm_tuning.h). File format, one problem a
// line after a header naming the cuBLASLt version the choices were measured with:
//   # gemforge gemm table, cublasLt 130000
//   <12 key words> <choice>
// A file of another cuBLASLt version is ignored (its candidate lists may differ).
#include "engine/gemm_tuning.h"

#include <atomic>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

namespace gemforge::gemm::tuning {
namespace {

std::atomic<bool> g_enabled{false};
std::mutex g_mutex;
std::vector<std::string> g_table_dirs;
std::string g_cache_dir;
// (device, version) -> key -> choice; loaded on a device's first lookup.
std::map<std::pair<std::string, size_t>, std::map<Key, int>> g_tables;

std::string header(size_t version) {
  return "# gemforge gemm table, cublasLt " + std::to_string(version);
}

void read_file(const std::string& path, size_t version, std::map<Key, int>& table) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line != header(version)) return;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    Key key{};
    int choice = -1;
    bool ok = true;
    for (auto& w : key) ok = ok && static_cast<bool>(words >> w);
    if (ok && (words >> choice) && choice >= 0 && choice < kCandidates) table[key] = choice;
  }
}

std::map<Key, int>& table_of(const std::string& device, size_t version) {
  auto [it, fresh] = g_tables.try_emplace({device, version});
  if (fresh) {
    const std::string name = "gemm-" + device + ".txt";
    for (const auto& dir : g_table_dirs) read_file(dir + "/" + name, version, it->second);
    if (!g_cache_dir.empty()) read_file(g_cache_dir + "/" + name, version, it->second);
  }
  return it->second;
}

}  // namespace

void set_enabled(bool on) { g_enabled = on; }
bool enabled() { return g_enabled; }

void set_dirs(std::vector<std::string> table_dirs, std::string cache_dir) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_table_dirs = std::move(table_dirs);
  g_cache_dir = std::move(cache_dir);
  g_tables.clear();
}

std::optional<int> lookup(const std::string& device, size_t version, const Key& key) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const auto& table = table_of(device, version);
  auto it = table.find(key);
  if (it == table.end()) return std::nullopt;
  return it->second;
}

void record(const std::string& device, size_t version, const Key& key, int choice) {
  std::lock_guard<std::mutex> lock(g_mutex);
  table_of(device, version)[key] = choice;
  if (g_cache_dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(g_cache_dir, ec);
  const std::string path = g_cache_dir + "/gemm-" + device + ".txt";
  // A cache of another cuBLASLt version is replaced, not mixed with.
  std::string first;
  {
    std::ifstream in(path);
    if (in) std::getline(in, first);
  }
  const bool keep = first == header(version);
  std::ofstream out(path, keep ? std::ios::app : std::ios::trunc);
  if (!out) return;  // an unwritable cache only costs tuning again next time
  if (!keep) out << header(version) << "\n";
  for (size_t i = 0; i < key.size(); ++i) out << key[i] << ' ';
  out << choice << "\n";
}

std::string slug(const std::string& device_name) {
  std::string s;
  for (char c : device_name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!s.empty() && s.back() != '-') {
      s += '-';
    }
  }
  while (!s.empty() && s.back() == '-') s.pop_back();
  return s;
}

}  // namespace gemforge::gemm::tuning
