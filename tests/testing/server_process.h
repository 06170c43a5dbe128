// ServerProcess: the real hookvault binary run as a child process, listening on port 0 (the
// port it got is read from its log), for integration tests over real HTTP.
#ifndef HOOKVAULT_TESTS_TESTING_SERVER_PROCESS_H_
#define HOOKVAULT_TESTS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace hookvault::testing {

class ServerProcess {
 public:
  // Starts `hookvault serve` with `args` and waits until it logs that it listens (or fails).
  // Its stderr goes to `log_path`.
  ServerProcess(std::vector<std::string> args, std::string log_path,
                std::vector<std::string> extra_env = {});
  ~ServerProcess();  // SIGKILLs it if still running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool started() const { return port_ > 0; }
  int port() const { return port_; }
  // The server's process id (-1 once it has been waited for).
  pid_t pid() const { return pid_; }
  // "http" or "https", as the server announced it.
  const std::string& scheme() const { return scheme_; }
  std::string Url(const std::string& path) const;
  // Sends `sig` and waits for the exit; returns the exit status (or 128+signal).
  int Signal(int sig);
  // Sends `sig` without waiting.
  void Kill(int sig);
  // Waits for the exit; returns the exit status (or 128+signal).
  int Wait();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string scheme_ = "http";
  std::string log_path_;
};

// Returns the path of the hookvault binary under test.
std::string HookvaultBinary();

struct CommandResult {
  int exit_code = -1;  // -1 when it did not exit normally
  std::string output;  // stdout and stderr
};

// Runs `command` with /bin/sh and waits for it.
CommandResult RunCommand(const std::string& command);

// Runs the hookvault binary with `args` (shell words) and waits for it.
CommandResult RunHookvault(const std::string& args);

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_SERVER_PROCESS_H_
