#include "tests/testing/faulty_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>

namespace hookvault::testing {
namespace {

std::atomic<int> g_fail_code{0};
std::mutex g_suffix_mu;
std::string g_suffix = "-wal";  // guarded by g_suffix_mu

sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;

// Our file: the base struct SQLite sees, whether it fails, then the real VFS's file.
struct FaultyFile {
  sqlite3_file base;
  bool may_fail;
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

FaultyFile* F(sqlite3_file* f) { return reinterpret_cast<FaultyFile*>(f); }
int Failing(sqlite3_file* f) { return F(f)->may_fail ? g_fail_code.load() : 0; }

int Close(sqlite3_file* f) { return F(f)->real()->pMethods->xClose(F(f)->real()); }
int Read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return F(f)->real()->pMethods->xRead(F(f)->real(), buf, n, off);
}
int Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (int code = Failing(f)) return code;
  return F(f)->real()->pMethods->xWrite(F(f)->real(), buf, n, off);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (int code = Failing(f)) return code;
  return F(f)->real()->pMethods->xTruncate(F(f)->real(), size);
}
int Sync(sqlite3_file* f, int flags) {
  if (int code = Failing(f)) return code == SQLITE_FULL ? SQLITE_IOERR_FSYNC : code;
  return F(f)->real()->pMethods->xSync(F(f)->real(), flags);
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

// Version 2: WAL needs the shared-memory methods; no memory-mapped I/O (so every write goes
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

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  FaultyFile* f = F(file);
  f->base.pMethods = nullptr;
  int rc = g_real->xOpen(g_real, name, f->real(), flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  {
    std::lock_guard<std::mutex> lock(g_suffix_mu);
    size_t n = name ? std::strlen(name) : 0;
    f->may_fail = n >= g_suffix.size() && g_suffix == std::string(name + n - g_suffix.size());
  }
  f->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int Delete(sqlite3_vfs*, const char* name, int sync) { return g_real->xDelete(g_real, name, sync); }
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

}  // namespace

const char* FaultyVfsName() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    std::memset(&g_vfs, 0, sizeof(g_vfs));
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = static_cast<int>(sizeof(FaultyFile)) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = "hookvault-faulty";
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

void FailFaultyVfsWrites(int code, const char* suffix) {
  {
    std::lock_guard<std::mutex> lock(g_suffix_mu);
    g_suffix = suffix;
  }
  g_fail_code.store(code);
}

}  // namespace hookvault::testing
