#include "tests/testing/power_cut_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bitset>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace hookvault::testing {
namespace {

constexpr int64_t kSector = 512;

// The bytes of one sector written since the file's last sync.
struct Sector {
  std::bitset<kSector> written;
  std::array<char, kSector> data{};
};

// What the model knows of one path.
struct Node {
  // The content a disk holds after a cut if nothing written since the last sync reached it;
  // nullopt: the path is durably absent.
  std::optional<std::string> durable;
  bool exists = true;                   // the file is there now (not deleted through the VFS)
  bool fresh = false;                   // created since `durable` and not synced since
  bool unlink_pending = false;          // deleted without a directory sync: `durable` may come back
  std::optional<int64_t> truncated_to;  // the smallest size truncated to since the last sync
  int64_t size = 0;                     // the current size
  std::map<int64_t, Sector> dirty;      // by sector index, written since the last sync
  int refs = 0;                         // open handles
  bool present_at_cut = true;           // the real file was there when the power went
};

// Everything guarded by mu, but `cut` (also read without it, to fail fast).
struct State {
  std::mutex mu;
  std::map<std::string, Node> nodes;  // by full path; std::map keeps Node addresses stable
  PowerCutModel model;
  std::mt19937_64 rng{1};
  PowerCutTrigger trigger;
  int64_t matched = 0;
  std::atomic<bool> cut{false};
  PowerCutStats stats;
};

State& S() {
  static State* state = new State;  // never destroyed: SQLite may close files at exit
  return *state;
}

sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;

struct PcFile {
  sqlite3_file base;
  Node* node;        // nullptr: not tracked (a temporary file)
  const char* path;  // the node's key; valid while node is
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

PcFile* F(sqlite3_file* f) { return reinterpret_cast<PcFile*>(f); }

bool Cut() { return S().cut.load(); }

// Requires S().mu.
void CutLocked(std::string why) {
  State& s = S();
  if (s.cut.load()) return;
  s.stats.cut = true;
  s.stats.cut_at = std::move(why);
  for (auto& [path, node] : s.nodes) {
    struct stat st {};
    node.present_at_cut = ::stat(path.c_str(), &st) == 0;
  }
  s.cut.store(true);
}

const char* OpName(unsigned op) {
  switch (op) {
    case kPowerCutWrite:
      return "write";
    case kPowerCutSync:
      return "sync";
    case kPowerCutTruncate:
      return "truncate";
    default:
      return "delete";
  }
}

// Counts `op` on `path` and returns true if the trigger cuts the power at it. Requires S().mu.
bool Fires(unsigned op, const std::string& path) {
  State& s = S();
  const PowerCutTrigger& t = s.trigger;
  if (t.at <= 0 || !(t.ops & op)) return false;
  if (!t.path_suffix.empty() && !path.ends_with(t.path_suffix)) return false;
  if (!t.path_contains.empty() && path.find(t.path_contains) == std::string::npos) return false;
  if (++s.matched < t.at) return false;
  CutLocked(std::string(OpName(op)) + " #" + std::to_string(s.matched) + " of " + path);
  return true;
}

bool Coin() { return S().rng() & 1; }

// Reads the whole file through the real VFS handle.
int ReadAll(sqlite3_file* real, std::string& out) {
  sqlite3_int64 size = 0;
  if (int rc = real->pMethods->xFileSize(real, &size); rc != SQLITE_OK) return rc;
  out.assign(static_cast<size_t>(size), '\0');
  if (size == 0) return SQLITE_OK;
  return real->pMethods->xRead(real, out.data(), static_cast<int>(size), 0);
}

// Records a write of [off, off + n) in the node's dirty sectors.
void RecordWrite(Node& node, const char* buf, int64_t n, int64_t off) {
  for (int64_t pos = off; pos < off + n;) {
    int64_t sector = pos / kSector;
    int64_t in = pos % kSector;
    int64_t len = std::min(kSector - in, off + n - pos);
    Sector& sec = node.dirty[sector];
    std::memcpy(sec.data.data() + in, buf + (pos - off), static_cast<size_t>(len));
    for (int64_t i = in; i < in + len; ++i) sec.written.set(static_cast<size_t>(i));
    pos += len;
  }
  node.size = std::max(node.size, off + n);
}

// Forgets what was written at or beyond `size`.
void ForgetBeyond(Node& node, int64_t size) {
  for (auto it = node.dirty.lower_bound(size / kSector); it != node.dirty.end();) {
    int64_t start = it->first * kSector;
    if (start >= size) {
      it = node.dirty.erase(it);
      continue;
    }
    for (int64_t i = size - start; i < kSector; ++i)
      it->second.written.reset(static_cast<size_t>(i));
    ++it;
  }
}

// Puts each dirty sector's fate into `image`: written, dropped or trashed. Requires S().mu.
void ApplyTornSectors(const Node& node, std::string& image) {
  for (const auto& [index, sec] : node.dirty) {
    unsigned fate = S().rng() % 3;  // 0 written, 1 dropped, 2 trashed
    if (fate == 1) continue;
    for (int64_t i = 0; i < kSector; ++i) {
      if (!sec.written.test(static_cast<size_t>(i))) continue;
      size_t pos = static_cast<size_t>(index * kSector + i);
      if (pos >= image.size()) image.resize(pos + 1, '\0');
      image[pos] = fate == 0 ? sec.data[static_cast<size_t>(i)] : static_cast<char>(S().rng());
    }
  }
}

// What a disk holds for this path after a cut; nullopt: no file. Requires S().mu.
std::optional<std::string> Survivor(const Node& node) {
  if (!node.exists) {
    return node.unlink_pending && Coin() ? node.durable : std::nullopt;
  }
  std::string image;
  if (node.fresh) {
    if (Coin()) {  // the directory entry did not reach the disk
      return node.unlink_pending && Coin() ? node.durable : std::nullopt;
    }
  } else {
    image = node.durable.value_or("");
    if (node.truncated_to && Coin()) {
      image.resize(std::min<size_t>(image.size(), static_cast<size_t>(*node.truncated_to)));
    }
  }
  ApplyTornSectors(node, image);
  return image;
}

storage::Status WriteFile(const std::string& path, const std::optional<std::string>& content) {
  if (!content) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return storage::Status::Internal("unlink " + path + ": " + std::strerror(errno));
    }
    return storage::Status::Ok();
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return storage::Status::Internal("open " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < content->size()) {
    ssize_t n = ::write(fd, content->data() + done, content->size() - done);
    if (n < 0) {
      ::close(fd);
      return storage::Status::Internal("write " + path + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return storage::Status::Ok();
}

// --- sqlite3_io_methods ---

int Close(sqlite3_file* f) {
  PcFile* p = F(f);
  {
    std::lock_guard<std::mutex> lock(S().mu);
    if (p->node) --p->node->refs;
  }
  return p->real()->pMethods->xClose(p->real());
}

int Read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  // Not SQLITE_IOERR_SHORT_READ: SQLite takes that as zeros past the end.
  if (Cut()) return SQLITE_IOERR_READ;
  return F(f)->real()->pMethods->xRead(F(f)->real(), buf, n, off);
}

int Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  PcFile* p = F(f);
  if (!p->node) {
    if (Cut()) return SQLITE_IOERR_WRITE;
    return p->real()->pMethods->xWrite(p->real(), buf, n, off);
  }
  std::lock_guard<std::mutex> lock(S().mu);
  if (Cut() || Fires(kPowerCutWrite, p->path)) return SQLITE_IOERR_WRITE;
  int rc = p->real()->pMethods->xWrite(p->real(), buf, n, off);
  if (rc == SQLITE_OK) {
    RecordWrite(*p->node, static_cast<const char*>(buf), n, off);
    ++S().stats.writes;
  }
  return rc;
}

int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  PcFile* p = F(f);
  if (!p->node) {
    if (Cut()) return SQLITE_IOERR_TRUNCATE;
    return p->real()->pMethods->xTruncate(p->real(), size);
  }
  std::lock_guard<std::mutex> lock(S().mu);
  if (Cut() || Fires(kPowerCutTruncate, p->path)) return SQLITE_IOERR_TRUNCATE;
  int rc = p->real()->pMethods->xTruncate(p->real(), size);
  if (rc == SQLITE_OK) {
    Node& node = *p->node;
    if (size < node.size) {
      node.truncated_to = std::min(node.truncated_to.value_or(size), static_cast<int64_t>(size));
      ForgetBeyond(node, size);
    }
    node.size = size;  // a longer size reads as zeros, durable or not
    ++S().stats.truncates;
  }
  return rc;
}

int Sync(sqlite3_file* f, int) {
  PcFile* p = F(f);
  if (!p->node) return Cut() ? SQLITE_IOERR_FSYNC : SQLITE_OK;
  std::lock_guard<std::mutex> lock(S().mu);
  if (Cut() || Fires(kPowerCutSync, p->path)) return SQLITE_IOERR_FSYNC;
  Node& node = *p->node;
  std::string image = node.fresh ? "" : node.durable.value_or("");
  if (!node.fresh && node.truncated_to) {
    image.resize(std::min<size_t>(image.size(), static_cast<size_t>(*node.truncated_to)));
  }
  image.resize(static_cast<size_t>(node.size), '\0');
  for (const auto& [index, sec] : node.dirty) {
    for (int64_t i = 0; i < kSector; ++i) {
      if (sec.written.test(static_cast<size_t>(i))) {
        image[static_cast<size_t>(index * kSector + i)] = sec.data[static_cast<size_t>(i)];
      }
    }
  }
  node.durable = std::move(image);
  node.fresh = false;
  node.unlink_pending = false;
  node.truncated_to.reset();
  node.dirty.clear();
  ++S().stats.syncs;
  return SQLITE_OK;
}

int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  return F(f)->real()->pMethods->xFileSize(F(f)->real(), size);
}
int Lock(sqlite3_file* f, int level) { return F(f)->real()->pMethods->xLock(F(f)->real(), level); }
int Unlock(sqlite3_file* f, int level) {
  return F(f)->real()->pMethods->xUnlock(F(f)->real(), level);
}
int CheckReservedLock(sqlite3_file* f, int* out) {
  return F(f)->real()->pMethods->xCheckReservedLock(F(f)->real(), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  // The default VFS may grow a file for a size hint behind xWrite's back; SQLite takes a hint
  // that is not acted on as fine.
  if (op == SQLITE_FCNTL_SIZE_HINT) return SQLITE_OK;
  return F(f)->real()->pMethods->xFileControl(F(f)->real(), op, arg);
}
int SectorSize(sqlite3_file* f) { return F(f)->real()->pMethods->xSectorSize(F(f)->real()); }
int DeviceCharacteristics(sqlite3_file* f) {
  return F(f)->real()->pMethods->xDeviceCharacteristics(F(f)->real());
}
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return F(f)->real()->pMethods->xShmMap(F(f)->real(), region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return F(f)->real()->pMethods->xShmLock(F(f)->real(), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { F(f)->real()->pMethods->xShmBarrier(F(f)->real()); }
int ShmUnmap(sqlite3_file* f, int del) {
  return F(f)->real()->pMethods->xShmUnmap(F(f)->real(), del);
}

// Version 2: WAL needs the shared-memory methods; no memory-mapped I/O (every write goes
// through xWrite).
const sqlite3_io_methods kMethods = {2,
                                     Close,
                                     Read,
                                     Write,
                                     Truncate,
                                     Sync,
                                     FileSize,
                                     Lock,
                                     Unlock,
                                     CheckReservedLock,
                                     FileControl,
                                     SectorSize,
                                     DeviceCharacteristics,
                                     ShmMap,
                                     ShmLock,
                                     ShmBarrier,
                                     ShmUnmap,
                                     nullptr,
                                     nullptr};

// --- sqlite3_vfs ---

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  PcFile* p = F(file);
  p->base.pMethods = nullptr;
  p->node = nullptr;
  p->path = nullptr;
  if (Cut()) return SQLITE_CANTOPEN;
  const bool tracked = name != nullptr && !(flags & SQLITE_OPEN_DELETEONCLOSE);
  if (!tracked) {
    int rc = g_real->xOpen(g_real, name, p->real(), flags, out_flags);
    if (rc == SQLITE_OK) p->base.pMethods = &kMethods;
    return rc;
  }
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  struct stat st {};
  const bool existed = ::stat(name, &st) == 0;
  int rc = g_real->xOpen(g_real, name, p->real(), flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  auto [it, inserted] = s.nodes.try_emplace(name);
  Node& node = it->second;
  if (existed && (inserted || !node.exists)) {
    // Not seen before (or deleted outside the VFS and back): what is on disk counts as durable.
    std::string content;
    if (int read = ReadAll(p->real(), content); read != SQLITE_OK) {
      p->real()->pMethods->xClose(p->real());
      if (inserted) s.nodes.erase(it);
      return read;
    }
    node = Node{};
    node.size = static_cast<int64_t>(content.size());
    node.durable = std::move(content);
  } else if (!existed) {
    // Created now. Keeps `durable` (and whether it may come back) as it was.
    if (inserted) node.durable = std::nullopt;
    node.exists = true;
    node.size = 0;
    node.dirty.clear();
    node.truncated_to.reset();
    node.fresh = s.model.created_files_need_sync;
    if (!node.fresh) {
      node.durable = "";
      node.unlink_pending = false;
    }
  }
  ++node.refs;
  p->node = &node;
  p->path = it->first.c_str();
  p->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  if (Cut()) return SQLITE_IOERR_DELETE;
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.nodes.find(name);
  if (it == s.nodes.end()) {
    // Never opened through the VFS (a leftover file): what is on disk counts as durable.
    int fd = ::open(name, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      std::string content;
      char buf[1 << 16];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof(buf))) > 0) content.append(buf, static_cast<size_t>(n));
      ::close(fd);
      Node node;
      node.size = static_cast<int64_t>(content.size());
      node.durable = std::move(content);
      it = s.nodes.emplace(name, std::move(node)).first;
    }
  }
  if (it != s.nodes.end() && Fires(kPowerCutDelete, name)) return SQLITE_IOERR_DELETE;
  int rc = g_real->xDelete(g_real, name, sync_dir);
  if (rc != SQLITE_OK || it == s.nodes.end()) return rc;
  Node& node = it->second;
  if (sync_dir) {
    node.durable = std::nullopt;
    node.unlink_pending = false;
  } else if (!node.fresh) {
    node.unlink_pending = node.durable.has_value();
  }  // a fresh file's durable state is what was there before it was created
  node.exists = false;
  node.fresh = false;
  node.size = 0;
  node.dirty.clear();
  node.truncated_to.reset();
  ++s.stats.deletes;
  return rc;
}

int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
int Randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int Sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int CurrentTime(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int GetLastError(sqlite3_vfs*, int n, char* out) { return g_real->xGetLastError(g_real, n, out); }
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real->xCurrentTimeInt64(g_real, out);
}

// Requires S().mu.
storage::Status CheckAllClosed() {
  for (const auto& [path, node] : S().nodes) {
    if (node.refs > 0) return storage::Status::Internal(path + " is still open");
  }
  return storage::Status::Ok();
}

}  // namespace

const char* PowerCutVfsName() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    std::memset(&g_vfs, 0, sizeof(g_vfs));
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = static_cast<int>(sizeof(PcFile)) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = "hookvault-power-cut";
    g_vfs.xOpen = Open;
    g_vfs.xDelete = Delete;
    g_vfs.xAccess = Access;
    g_vfs.xFullPathname = FullPathname;
    g_vfs.xRandomness = Randomness;
    g_vfs.xSleep = Sleep;
    g_vfs.xCurrentTime = CurrentTime;
    g_vfs.xGetLastError = GetLastError;
    g_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    sqlite3_vfs_register(&g_vfs, /*makeDflt=*/0);
  });
  return g_vfs.zName;
}

storage::Status ResetPowerCut(const PowerCutModel& model) {
  PowerCutVfsName();
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (storage::Status open = CheckAllClosed(); !open.ok()) return open;
  s.nodes.clear();
  s.model = model;
  s.rng.seed(model.seed);
  s.trigger = {};
  s.matched = 0;
  s.stats = {};
  s.cut.store(false);
  return storage::Status::Ok();
}

void ArmPowerCut(const PowerCutTrigger& trigger) {
  std::lock_guard<std::mutex> lock(S().mu);
  S().trigger = trigger;
  S().matched = 0;
}

void CutPower(const std::string& why) {
  std::lock_guard<std::mutex> lock(S().mu);
  CutLocked(why);
}

bool PowerIsCut() { return Cut(); }

PowerCutStats GetPowerCutStats() {
  std::lock_guard<std::mutex> lock(S().mu);
  return S().stats;
}

storage::Status MaterializePowerCut() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (storage::Status open = CheckAllClosed(); !open.ok()) return open;
  CutLocked("materialize");
  for (const auto& [path, node] : s.nodes) {
    // Moved away outside SQLite before the cut (a published backup): not ours any more.
    if (node.exists && !node.present_at_cut) continue;
    if (storage::Status w = WriteFile(path, Survivor(node)); !w.ok()) return w;
  }
  s.nodes.clear();
  s.trigger = {};
  s.cut.store(false);
  return storage::Status::Ok();
}

}  // namespace hookvault::testing
