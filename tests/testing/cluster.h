// Cluster: several real hookvault nodes (the binary, each a ServerProcess on port 0 with its own
// data dir and config file) serving one gateway, for tests that kill and restart nodes while
// clients spread load over whichever nodes are up.
#ifndef HOOKVAULT_TESTS_TESTING_CLUSTER_H_
#define HOOKVAULT_TESTS_TESTING_CLUSTER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/testing/server_process.h"

namespace hookvault::testing {

// Thread-safety: every method may be called from any thread. Start, Kill and Restart of one
// node are meant to come from one thread (the test's killer); the others only read.
class Cluster {
 public:
  // `config(data_dir)` returns the config file of a node whose data dir is `data_dir` (the same
  // config for every node but that; it should listen on 127.0.0.1:0). Nodes live in `dir`:
  // node-<i>/ (data dir), node-<i>.json, node-<i>.<incarnation>.log (one log per start, so a
  // restart keeps the log of the killed process for the failure message).
  Cluster(std::string dir, size_t nodes, std::function<std::string(const std::string&)> config);
  ~Cluster();  // SIGKILLs every node still running
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  size_t size() const { return nodes_.size(); }

  // Starts node `i` (no-op if it is up). Returns false, keeping the node down, if it did not
  // come up; its log then says why.
  bool Start(size_t i);
  // SIGKILLs node `i` and waits for it to be gone (no-op if it is down).
  void Kill(size_t i);
  // Sends SIGTERM to every node and waits; returns the exit statuses that were not 0.
  std::vector<std::string> StopAll();

  // Returns the base URL ("http://127.0.0.1:PORT") of node `i`, or "" while it is down.
  std::string BaseUrl(size_t i) const;
  // Returns the base URL of the first node that is up, looking from node `start % size()`
  // on, or "" if none is; `*node` (if given) receives its index.
  std::string AnyUrl(size_t start, size_t* node = nullptr) const;
  bool up(size_t i) const;
  // The number of starts of node `i` so far.
  int starts(size_t i) const;
  // The logs of every incarnation of node `i` (the last `max_bytes` of each), for messages.
  std::string Logs(size_t i, size_t max_bytes = 4000) const;

 private:
  struct Node {
    std::string data_dir, config_path;
    std::unique_ptr<ServerProcess> process;  // null while down
    std::string base_url;                    // "" while down
    int starts = 0;
    std::vector<std::string> log_paths;
  };

  std::string dir_;
  mutable std::mutex mu_;
  std::vector<Node> nodes_;  // the vector's size is fixed; the members are guarded by mu_
};

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_CLUSTER_H_
