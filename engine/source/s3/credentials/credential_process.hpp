// Runs a profile's credential_process command and captures its output: the one piece of the
// credential chain that does I/O itself (posix_spawn, pipes, a deadline).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmapurl::s3 {

struct ProcessOutput {
  bool started = false;
  bool timed_out = false;
  int exit_status = -1;  // the exit code, or 128 + signal number
  std::string stdout_text;
  std::string stderr_text;
  std::string error;  // why it could not be run, when !started
};

// Runs a credential_process command line; injected so tests can fake it.
using ProcessRunner = std::function<ProcessOutput(const std::string& command_line)>;

// Splits a command line like a POSIX shell would, without running one (botocore uses
// shlex.split): whitespace separates words; '...' is literal; "..." allows \" \\ \$ \`;
// a backslash outside quotes escapes the next character. std::nullopt on unbalanced quotes.
std::optional<std::vector<std::string>> split_command_line(std::string_view command_line);

// Spawns the command (PATH lookup, stdin /dev/null), collects stdout and stderr (each capped
// at 1 MiB) and kills it when `timeout` passes. Never throws; does not touch signal handlers.
ProcessOutput run_credential_process(const std::string& command_line,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace mmapurl::s3
