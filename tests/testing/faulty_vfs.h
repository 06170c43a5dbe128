// A SQLite VFS that forwards to the default one and, on request, fails writes the way a full
// disk or a broken device does: real SQLite code paths, real files, an injected error.
#ifndef HOOKVAULT_TESTS_TESTING_FAULTY_VFS_H_
#define HOOKVAULT_TESTS_TESTING_FAULTY_VFS_H_

namespace hookvault::testing {

// Registers the VFS (once; not as the default) and returns its name, for
// storage::DatabaseOptions::vfs.
const char* FaultyVfsName();

// From now on, every xWrite, xTruncate and xSync of a file opened through the VFS whose name
// ends in `suffix` ("-wal" fails commits) returns `code` (e.g. SQLITE_FULL, SQLITE_IOERR_WRITE);
// code 0 ends the failures. Thread-safe.
void FailFaultyVfsWrites(int code, const char* suffix = "-wal");

}  // namespace hookvault::testing

#endif  // HOOKVAULT_TESTS_TESTING_FAULTY_VFS_H_
