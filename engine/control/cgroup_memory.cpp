// Which cgroup files bound this process's memory, and what default memory limit that gives.
#include "control/cgroup_memory.hpp"

#include <algorithm>
#include <charconv>

namespace mmapurl::control {
namespace {

constexpr uint64_t kUnlimitedAbove = uint64_t{1} << 60;
constexpr uint64_t kSmallestDefault = uint64_t{16} << 20;

std::vector<std::string_view> split(std::string_view text, char by) {
  std::vector<std::string_view> parts;
  for (size_t at = 0;;) {
    const size_t next = text.find(by, at);
    parts.push_back(text.substr(at, next == std::string_view::npos ? text.npos : next - at));
    if (next == std::string_view::npos) return parts;
    at = next + 1;
  }
}

// `dir` + the group's path and each ancestor's, down to the mount's root, each with `file`.
void add_group_and_ancestors(std::string_view mount, std::string_view group, const char* file,
                             std::vector<std::string>* out) {
  std::string path(group);
  while (!path.empty() && path.back() == '/') path.pop_back();
  for (;;) {
    out->push_back(std::string(mount) + path + "/" + file);
    if (path.empty()) return;
    path.erase(path.rfind('/'));
  }
}

}  // namespace

std::vector<std::string> cgroup_memory_limit_files(std::string_view proc_self_cgroup,
                                                   std::string_view proc_self_mounts) {
  std::string v2_mount, v1_mount;
  for (std::string_view line : split(proc_self_mounts, '\n')) {
    const auto fields = split(line, ' ');
    if (fields.size() < 4) continue;
    if (fields[2] == "cgroup2" && v2_mount.empty()) v2_mount = fields[1];
    if (fields[2] == "cgroup") {
      for (std::string_view option : split(fields[3], ',')) {
        if (option == "memory") v1_mount = fields[1];
      }
    }
  }
  std::vector<std::string> files;
  for (std::string_view line : split(proc_self_cgroup, '\n')) {
    // "hierarchy-id:controllers:path"; the path may itself hold ':'.
    const size_t first = line.find(':');
    const size_t second = first == line.npos ? line.npos : line.find(':', first + 1);
    if (second == line.npos) continue;
    const std::string_view controllers = line.substr(first + 1, second - first - 1);
    const std::string_view path = line.substr(second + 1);
    if (path.empty() || path[0] != '/') continue;
    if (line.substr(0, first) == "0" && controllers.empty() && !v2_mount.empty()) {
      add_group_and_ancestors(v2_mount, path, "memory.max", &files);
    }
    for (std::string_view c : split(controllers, ',')) {
      if (c == "memory" && !v1_mount.empty()) {
        add_group_and_ancestors(v1_mount, path, "memory.limit_in_bytes", &files);
      }
    }
  }
  return files;
}

std::optional<uint64_t> parse_cgroup_memory_limit(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  if (value >= kUnlimitedAbove) return std::nullopt;
  return value;
}

uint64_t memory_limit_under_cgroup(uint64_t fallback, std::optional<uint64_t> granted) {
  if (!granted) return fallback;
  return std::min(fallback, std::max(kSmallestDefault, *granted / 2));
}

std::vector<std::string> cgroup_oom_control_files(const std::vector<std::string>& limit_files) {
  constexpr std::string_view kV1Limit = "/memory.limit_in_bytes";
  std::vector<std::string> files;
  for (const std::string& f : limit_files) {
    if (f.size() > kV1Limit.size() && f.ends_with(kV1Limit)) {
      files.push_back(f.substr(0, f.size() - kV1Limit.size()) + "/memory.oom_control");
    }
  }
  return files;
}

bool cgroup_under_oom(std::string_view text) {
  constexpr std::string_view kKey = "under_oom ";
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    if (line.starts_with(kKey)) return line.substr(kKey.size()) == "1";
    pos = end + 1;
  }
  return false;
}

}  // namespace mmapurl::control
