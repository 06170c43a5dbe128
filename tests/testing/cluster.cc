#include "tests/testing/cluster.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

namespace hookvault::testing {

Cluster::Cluster(std::string dir, size_t nodes,
                 std::function<std::string(const std::string&)> config)
    : dir_(std::move(dir)), nodes_(nodes) {
  for (size_t i = 0; i < nodes; ++i) {
    Node& node = nodes_[i];
    std::string name = dir_ + "/node-" + std::to_string(i);
    node.data_dir = name;
    node.config_path = name + ".json";
    std::filesystem::create_directories(node.data_dir);
    std::ofstream(node.config_path, std::ios::binary) << config(node.data_dir);
  }
}

Cluster::~Cluster() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Node& node : nodes_) node.process.reset();  // ~ServerProcess SIGKILLs and waits
}

bool Cluster::Start(size_t i) {
  std::string log_path, config_path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Node& node = nodes_[i];
    if (node.process) return true;
    ++node.starts;
    log_path = dir_ + "/node-" + std::to_string(i) + "." + std::to_string(node.starts) + ".log";
    node.log_paths.push_back(log_path);
    config_path = node.config_path;
  }
  // Outside the lock: the start waits for the node to listen, while clients go on using the
  // other nodes.
  auto process = std::make_unique<ServerProcess>(
      std::vector<std::string>{"serve", "--config", config_path}, log_path);
  if (!process->started()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  Node& node = nodes_[i];
  node.base_url = process->Url("");
  node.process = std::move(process);
  return true;
}

void Cluster::Kill(size_t i) {
  std::unique_ptr<ServerProcess> process;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Node& node = nodes_[i];
    node.base_url.clear();
    process = std::move(node.process);
  }
  if (process) process->Signal(SIGKILL);
}

std::vector<std::string> Cluster::StopAll() {
  std::vector<std::pair<size_t, std::unique_ptr<ServerProcess>>> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < nodes_.size(); ++i) {
      nodes_[i].base_url.clear();
      if (nodes_[i].process) running.emplace_back(i, std::move(nodes_[i].process));
    }
  }
  for (auto& [i, process] : running) process->Kill(SIGTERM);
  std::vector<std::string> bad;
  for (auto& [i, process] : running) {
    int status = process->Wait();
    if (status != 0) {
      bad.push_back("node " + std::to_string(i) + " exited " + std::to_string(status));
    }
  }
  return bad;
}

std::string Cluster::BaseUrl(size_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  return nodes_[i].base_url;
}

std::string Cluster::AnyUrl(size_t start, size_t* node) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t k = 0; k < nodes_.size(); ++k) {
    size_t i = (start + k) % nodes_.size();
    if (!nodes_[i].base_url.empty()) {
      if (node) *node = i;
      return nodes_[i].base_url;
    }
  }
  return "";
}

bool Cluster::up(size_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  return nodes_[i].process != nullptr;
}

int Cluster::starts(size_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  return nodes_[i].starts;
}

std::string Cluster::Logs(size_t i, size_t max_bytes) const {
  std::vector<std::string> paths;
  {
    std::lock_guard<std::mutex> lock(mu_);
    paths = nodes_[i].log_paths;
  }
  std::string out;
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    std::string log = s.str();
    if (log.size() > max_bytes) log = "…" + log.substr(log.size() - max_bytes);
    out += "--- " + path + "\n" + log + "\n";
  }
  return out;
}

}  // namespace hookvault::testing
