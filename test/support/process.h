#pragma once
// Test-only: start real binaries (from runfiles) on loopback and stop them.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace sluice::testing {

// Path of a binary in the test's runfiles, e.g. "dataplane/main/sluice-proxy".
std::string RunfilePath(const std::string& workspace_relative);

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
int FreePort();

// Polls until something accepts on 127.0.0.1:port or the timeout passes.
bool WaitForPort(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Polls `done` every `interval` until it returns true (true) or `limit`
// passes (false): how tests wait for a configuration change to take effect.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds limit,
               std::chrono::milliseconds interval = std::chrono::milliseconds(20));

class Process {
 public:
  // Starts `argv[0]` with the arguments; output goes to `log_path` (or the
  // test's stderr when empty).
  explicit Process(std::vector<std::string> argv, std::string log_path = "");
  ~Process();  // SIGKILL if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int signo);
  // SIGSTOP, then waits until every thread of the process is stopped
  // (kill returns before threads running on other cores have stopped, and
  // one of them may still answer). False when that did not happen in time.
  bool Stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void Kill();
  // Waits for exit; returns the exit status (or -1 on timeout / signal).
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(15));

 private:
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

// Reads a whole file (for logs); empty when missing.
std::string ReadFile(const std::string& path);
// Writes a file atomically (write to temp, rename), as editors and kubectl do.
void WriteFileAtomically(const std::string& path, const std::string& content);
// A fresh temporary directory under TEST_TMPDIR.
std::string MakeTempDir(const std::string& prefix);

}  // namespace sluice::testing
