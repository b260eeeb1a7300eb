// uffd-bench's and mmapurl-cat's progress line as a person sees it: each tool runs in a detached
// tmux session of fixed size (its own tmux server), and the test reads the screen with
// `tmux capture-pane -p` while the run lasts (a shaped link makes it last a few seconds) and at
// its end. With stderr redirected to a file, or --quiet, no progress line may appear anywhere.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/process.hpp"
#include "integration/mapping_test_support.hpp"
#include "netshaper/shaping_proxy.hpp"

namespace {

namespace itest = mmapurl::itest;
using mmapurl::testing::RunResult;
using mmapurl::testing::SpawnOptions;
using mmapurl::testing::TempDir;
using Clock = std::chrono::steady_clock;

constexpr const char* kTmux = "/usr/bin/tmux";
constexpr const char* kExitMarker = "tool-exit=";

// The environment every tool run depends on, set in the pane's shell: the tmux server's own
// environment is whatever this process had when it started.
constexpr const char* kPreamble =
    "unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy NO_PROXY no_proxy\n"
    "unset MMAPURL_LOG MMAPURL_LOG_FILE MMAPURL_CACHE_DIR SSL_CERT_DIR\n"
    // Two connections over a link capped at 10 MB/s each: about 20 MB/s, so 48 MiB take over 2 s.
    "export MMAPURL_CONNECTIONS=2\n";

// One detached session on a private tmux server (its socket in `dir`), 160x40, running `script`.
class TmuxSession {
 public:
  TmuxSession(const TempDir& dir, const std::string& script)
      : dir_(dir), socket_(dir.file("tmux.sock")) {
    EXPECT_TRUE(mmapurl::testing::write_file(dir.file("run.sh"), script));
    // remain-on-exit is not needed: the script sleeps after the tool, so the screen stays.
    RunResult r = tmux(
        {"new-session", "-d", "-s", "t", "-x", "160", "-y", "40", "/bin/sh", dir.file("run.sh")});
    started_ = r.exit_code == 0;
    EXPECT_TRUE(started_) << r.out << r.err;
  }
  ~TmuxSession() { tmux({"kill-server"}); }

  bool started() const { return started_; }
  std::string screen() {
    RunResult r = tmux({"capture-pane", "-p", "-t", "t"});
    return r.exit_code == 0 ? r.out : "";
  }
  // Screens seen until the tool's exit marker shows (or `timeout`); the last one is the final.
  std::vector<std::string> watch(std::chrono::seconds timeout) {
    std::vector<std::string> screens;
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      screens.push_back(screen());
      if (screens.back().find(kExitMarker) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return screens;
  }

 private:
  RunResult tmux(std::vector<std::string> args) {
    SpawnOptions o;
    o.argv = {kTmux, "-S", socket_, "-f", "/dev/null"};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.env_overrides = {{"TMUX", std::nullopt}, {"TERM", "xterm-256color"}};
    return mmapurl::testing::run_program(o, dir_.path(), std::chrono::seconds(20));
  }
  const TempDir& dir_;
  std::string socket_;
  bool started_ = false;
};

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// A screen line that is a live progress line of `label`: bytes of total, percent, MB/s, counters.
bool shows_progress_line(const std::string& screen, const std::string& label,
                         const std::string& total) {
  const std::regex line(
      "^" + label + R"(  [0-9.]+ (B|KiB|MiB|GiB) / )" + total +
      R"(  \d+%  [0-9.]+ MB/s  faults \d+  requests \d+  in flight [0-9.]+ (B|KiB|MiB)\s*$)");
  std::istringstream in(screen);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_match(l, m, line)) return true;
  }
  return false;
}

bool any_shows_progress(const std::vector<std::string>& screens, const std::string& label,
                        const std::string& total) {
  for (const auto& s : screens)
    if (shows_progress_line(s, label, total)) return true;
  return false;
}

std::string all_of(const std::vector<std::string>& screens) {
  std::string out;
  for (const auto& s : screens) out += s + "\n-----\n";
  return out;
}

class ToolProgress : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mmapurl::testing::program_exists(kTmux)) << "tools/install-deps.sh installs tmux";
    std::string error;
    dir_ = TempDir::create("mmapurl-tool-progress", &error);
    ASSERT_TRUE(dir_) << error;
  }
  std::string bench_command(const std::string& extra) const {
    return quoted(MMAPURL_BINARY_DIR "/tools/uffd-bench") +
           " --http --size 48M --scenario seq --conn-mbps 10 " + extra;
  }
  std::unique_ptr<TempDir> dir_;
};

TEST_F(ToolProgress, UffdBenchDrawsALiveLineOnATerminalAndEndsWithASummary) {
  TmuxSession tmux(*dir_, std::string(kPreamble) + bench_command("") + "\necho " + kExitMarker +
                              "$?\nsleep 300\n");
  ASSERT_TRUE(tmux.started());
  auto screens = tmux.watch(std::chrono::seconds(120));
  const std::string& last = screens.back();
  ASSERT_NE(last.find(std::string(kExitMarker) + "0"), std::string::npos) << all_of(screens);
  EXPECT_TRUE(any_shows_progress(screens, "seq", "48.0 MiB")) << all_of(screens);
  // At the end: the progress line replaced by the summary, and the table row on stdout.
  EXPECT_FALSE(shows_progress_line(last, "seq", "48.0 MiB")) << last;
  EXPECT_TRUE(std::regex_search(
      last,
      std::regex(R"((^|\n)seq: 48\.0 MiB in [0-9.]+ s, [0-9.]+ MB/s, \d+ faults, \d+ requests\n)")))
      << last;
  EXPECT_TRUE(std::regex_search(last, std::regex(R"((^|\n)seq +[0-9.]+ .* verified\n)"))) << last;
}

TEST_F(ToolProgress, UffdBenchDrawsNothingWhenStderrIsAFileOrItIsToldQuiet) {
  const std::string err_file = dir_->file("stderr.txt");
  TmuxSession tmux(*dir_, std::string(kPreamble) + bench_command("2> " + quoted(err_file)) +
                              "\necho " + kExitMarker + "$?\n" + bench_command("--quiet") +
                              "\necho " + kExitMarker + "$?\nsleep 300\n");
  ASSERT_TRUE(tmux.started());
  auto screens = tmux.watch(std::chrono::seconds(120));
  // Both runs: wait for the second marker too.
  for (auto deadline = Clock::now() + std::chrono::seconds(120);
       Clock::now() < deadline && screens.back().find(std::string(kExitMarker) + "0\n") ==
                                      screens.back().rfind(std::string(kExitMarker) + "0\n");) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    screens.push_back(tmux.screen());
  }
  const std::string& last = screens.back();
  ASSERT_NE(last.find(std::string(kExitMarker) + "0\n"),
            last.rfind(std::string(kExitMarker) + "0\n"))
      << "both runs exit 0:\n"
      << all_of(screens);
  EXPECT_FALSE(any_shows_progress(screens, "seq", "48.0 MiB")) << all_of(screens);
  EXPECT_EQ(last.find("seq: "), std::string::npos) << "no summary either:\n" << last;
  auto err = mmapurl::testing::read_file(err_file);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->find('\r'), std::string::npos) << *err;
  EXPECT_EQ(err->find("\x1b["), std::string::npos) << *err;
  EXPECT_EQ(*err, "");
}

TEST_F(ToolProgress, MmapurlCatShowsProgressOnStderrWhileStdoutGetsTheObject) {
  std::string error;
  itest::SharedOrigin* origin = itest::SharedOrigin::get(&error);
  ASSERT_NE(origin, nullptr) << error;
  const std::string content = itest::random_bytes(32 << 20, 5);
  ASSERT_TRUE(origin->put("progress.bin", content));
  mmapurl::netshaper::ShaperOptions so;
  so.target_port = origin->nginx().http_port();
  so.conn_mbps = 10;
  mmapurl::netshaper::ShapingProxy shaper(so);
  ASSERT_TRUE(shaper.start(&error)) << error;
  const std::string url = "http://127.0.0.1:" + std::to_string(shaper.port()) + "/progress.bin";
  const std::string cat = quoted(MMAPURL_BINARY_DIR "/tools/mmapurl-cat");
  const std::string out = dir_->file("out.bin"), out2 = dir_->file("out2.bin"),
                    err2 = dir_->file("err2.txt");
  TmuxSession tmux(*dir_, std::string(kPreamble) + cat + " --progress " + quoted(url) + " > " +
                              quoted(out) + "\necho " + kExitMarker + "$?\n" +
                              // Without --progress: stderr stays empty.
                              cat + " " + quoted(url) + " > " + quoted(out2) + " 2> " +
                              quoted(err2) + "\necho " + kExitMarker + "$?\nsleep 300\n");
  ASSERT_TRUE(tmux.started());
  auto screens = tmux.watch(std::chrono::seconds(120));
  for (auto deadline = Clock::now() + std::chrono::seconds(120);
       Clock::now() < deadline && screens.back().find(std::string(kExitMarker) + "0\n") ==
                                      screens.back().rfind(std::string(kExitMarker) + "0\n");) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    screens.push_back(tmux.screen());
  }
  const std::string& last = screens.back();
  ASSERT_NE(last.find(std::string(kExitMarker) + "0\n"),
            last.rfind(std::string(kExitMarker) + "0\n"))
      << all_of(screens);
  EXPECT_TRUE(any_shows_progress(screens, "mmapurl-cat", "32.0 MiB")) << all_of(screens);
  EXPECT_FALSE(shows_progress_line(last, "mmapurl-cat", "32.0 MiB")) << last;
  EXPECT_TRUE(std::regex_search(
      last,
      std::regex(
          R"((^|\n)mmapurl-cat: 32\.0 MiB in [0-9.]+ s, [0-9.]+ MB/s, \d+ faults, \d+ requests\n)")))
      << last;
  for (const std::string& path : {out, out2}) {
    auto copy = mmapurl::testing::read_file(path);
    ASSERT_TRUE(copy.has_value()) << path;
    EXPECT_TRUE(*copy == content) << path << ": " << copy->size() << " bytes";
  }
  EXPECT_EQ(mmapurl::testing::read_file(err2).value_or("missing"), "");
}

}  // namespace
