#include "storage/sqlite/wal_write_batching_vfs.h"

#include <sqlite3.h>

#include <cstring>
#include <map>
#include <mutex>
#include <new>

namespace hookvault::storage {
namespace {

// Most bytes gathered before they are written anyway: a large commit goes down in pieces of
// this size (29 frames of 4 KiB pages). SQLite's unix VFS takes at most 0x1ffff bytes per write
// (os_unix.c, seekAndWriteFd masks the length with it): a larger write would be cut short.
constexpr size_t kMaxGathered = 120 << 10;

// One registered VFS: the sqlite3_vfs SQLite calls, over the base VFS it forwards to.
struct Instance {
  sqlite3_vfs vfs;
  sqlite3_vfs* real;
  std::string name;
};

sqlite3_vfs* Real(sqlite3_vfs* vfs) { return static_cast<Instance*>(vfs->pAppData)->real; }

// A WAL file: the base VFS's file lies right after this header (szOsFile makes room for both).
struct BatchFile {
  sqlite3_file base;
  std::string* gathered;  // bytes not yet written, to go at `offset`; owned, freed by Close
  sqlite3_int64 offset;
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

BatchFile* B(sqlite3_file* f) { return reinterpret_cast<BatchFile*>(f); }

// Writes what is gathered. The bytes are dropped whatever the outcome: on an error SQLite fails
// the transaction, and frames of a transaction that never committed are ignored by WAL recovery.
int Flush(BatchFile* b) {
  if (b->gathered->empty()) return SQLITE_OK;
  sqlite3_file* real = b->real();
  int rc = real->pMethods->xWrite(real, b->gathered->data(),
                                  static_cast<int>(b->gathered->size()), b->offset);
  b->gathered->clear();
  return rc;
}

int Close(sqlite3_file* f) {
  BatchFile* b = B(f);
  int rc = Flush(b);
  int closed = b->real()->pMethods->xClose(b->real());
  delete b->gathered;
  b->gathered = nullptr;
  return rc != SQLITE_OK ? rc : closed;
}

int Read(sqlite3_file* f, void* out, int n, sqlite3_int64 off) {
  BatchFile* b = B(f);
  if (int rc = Flush(b); rc != SQLITE_OK) return rc;
  return b->real()->pMethods->xRead(b->real(), out, n, off);
}

int Write(sqlite3_file* f, const void* data, int n, sqlite3_int64 off) {
  BatchFile* b = B(f);
  std::string& gathered = *b->gathered;
  const auto bytes = static_cast<size_t>(n);
  if (!gathered.empty() && off == b->offset + static_cast<sqlite3_int64>(gathered.size()) &&
      gathered.size() + bytes <= kMaxGathered) {
    gathered.append(static_cast<const char*>(data), bytes);
    return SQLITE_OK;
  }
  // Not a continuation (a header rewritten at offset 0, a frame overwritten in place), or full.
  if (int rc = Flush(b); rc != SQLITE_OK) return rc;
  if (bytes >= kMaxGathered) return b->real()->pMethods->xWrite(b->real(), data, n, off);
  b->offset = off;
  gathered.assign(static_cast<const char*>(data), bytes);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  BatchFile* b = B(f);
  if (int rc = Flush(b); rc != SQLITE_OK) return rc;
  return b->real()->pMethods->xTruncate(b->real(), size);
}

int Sync(sqlite3_file* f, int flags) {
  BatchFile* b = B(f);
  if (int rc = Flush(b); rc != SQLITE_OK) return rc;
  return b->real()->pMethods->xSync(b->real(), flags);
}

int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  BatchFile* b = B(f);
  if (int rc = Flush(b); rc != SQLITE_OK) return rc;
  return b->real()->pMethods->xFileSize(b->real(), size);
}

int Lock(sqlite3_file* f, int level) { return B(f)->real()->pMethods->xLock(B(f)->real(), level); }
int Unlock(sqlite3_file* f, int level) {
  return B(f)->real()->pMethods->xUnlock(B(f)->real(), level);
}
int CheckReservedLock(sqlite3_file* f, int* out) {
  return B(f)->real()->pMethods->xCheckReservedLock(B(f)->real(), out);
}

int FileControl(sqlite3_file* f, int op, void* arg) {
  BatchFile* b = B(f);
  // Whatever the base does for `op` (a size hint, a query of its state), it sees every write.
  if (int rc = Flush(b); rc != SQLITE_OK) return rc;
  return b->real()->pMethods->xFileControl(b->real(), op, arg);
}

int SectorSize(sqlite3_file* f) { return B(f)->real()->pMethods->xSectorSize(B(f)->real()); }
int DeviceCharacteristics(sqlite3_file* f) {
  return B(f)->real()->pMethods->xDeviceCharacteristics(B(f)->real());
}

// A WAL file has no shared memory and is not memory-mapped (those belong to the database file,
// which is not wrapped); these only forward, for completeness.
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return B(f)->real()->pMethods->xShmMap(B(f)->real(), region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return B(f)->real()->pMethods->xShmLock(B(f)->real(), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { B(f)->real()->pMethods->xShmBarrier(B(f)->real()); }
int ShmUnmap(sqlite3_file* f, int del) {
  return B(f)->real()->pMethods->xShmUnmap(B(f)->real(), del);
}

const sqlite3_io_methods kMethods = {2,        Close,    Read,     Write,          Truncate,
                                     Sync,     FileSize, Lock,     Unlock,         CheckReservedLock,
                                     FileControl, SectorSize, DeviceCharacteristics, ShmMap,
                                     ShmLock,  ShmBarrier, ShmUnmap, nullptr,       nullptr};

int Open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  sqlite3_vfs* real = Real(vfs);
  // Anything but a WAL is the base VFS's file in place, with its own methods: no indirection.
  if (!(flags & SQLITE_OPEN_WAL)) return real->xOpen(real, name, file, flags, out_flags);
  BatchFile* b = B(file);
  b->base.pMethods = nullptr;  // until opened: SQLite then calls no method of a failed open
  b->gathered = new (std::nothrow) std::string();
  if (!b->gathered) return SQLITE_NOMEM;
  b->offset = 0;
  int rc = real->xOpen(real, name, b->real(), flags, out_flags);
  if (rc != SQLITE_OK) {
    delete b->gathered;
    b->gathered = nullptr;
    return rc;
  }
  b->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int Delete(sqlite3_vfs* vfs, const char* name, int sync) {
  return Real(vfs)->xDelete(Real(vfs), name, sync);
}
int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return Real(vfs)->xAccess(Real(vfs), name, flags, out);
}
int FullPathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  return Real(vfs)->xFullPathname(Real(vfs), name, n, out);
}
int Randomness(sqlite3_vfs* vfs, int n, char* out) {
  return Real(vfs)->xRandomness(Real(vfs), n, out);
}
int Sleep(sqlite3_vfs* vfs, int us) { return Real(vfs)->xSleep(Real(vfs), us); }
int CurrentTime(sqlite3_vfs* vfs, double* out) {
  return Real(vfs)->xCurrentTime(Real(vfs), out);
}
int GetLastError(sqlite3_vfs* vfs, int n, char* out) {
  return Real(vfs)->xGetLastError(Real(vfs), n, out);
}
int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return Real(vfs)->xCurrentTimeInt64(Real(vfs), out);
}

}  // namespace

StatusOr<std::string> WalWriteBatchingVfs(const std::string& base) {
  static std::mutex mu;
  static auto* instances = new std::map<std::string, Instance*>;  // registered for good
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = instances->find(base); it != instances->end()) return it->second->name;
  sqlite3_vfs* real = sqlite3_vfs_find(base.empty() ? nullptr : base.c_str());
  if (!real) return Status::Unavailable("no SQLite VFS named \"" + base + "\"");
  if (real->iVersion < 2) return Status::Unavailable("SQLite VFS \"" + base + "\" is too old");
  auto* in = new Instance{};
  in->real = real;
  in->name = "hookvault-wal-batching" + (base.empty() ? std::string() : "-over-" + base);
  sqlite3_vfs& v = in->vfs;
  std::memset(&v, 0, sizeof(v));
  v.iVersion = 2;
  v.szOsFile = static_cast<int>(sizeof(BatchFile)) + real->szOsFile;
  v.mxPathname = real->mxPathname;
  v.zName = in->name.c_str();
  v.pAppData = in;
  v.xOpen = Open;
  v.xDelete = Delete;
  v.xAccess = Access;
  v.xFullPathname = FullPathname;
  v.xRandomness = Randomness;
  v.xSleep = Sleep;
  v.xCurrentTime = CurrentTime;
  v.xGetLastError = GetLastError;
  v.xCurrentTimeInt64 = CurrentTimeInt64;
  if (int rc = sqlite3_vfs_register(&v, /*makeDflt=*/0); rc != SQLITE_OK) {
    delete in;
    return Status::Unavailable(std::string("register SQLite VFS: ") + sqlite3_errstr(rc));
  }
  (*instances)[base] = in;
  return in->name;
}

}  // namespace hookvault::storage
