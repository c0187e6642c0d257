// What backfill writes holds the customer's data (raw pages, texts, the ledger), so it is private to
// the user running it: folders 0700 and files 0600, whatever the umask says.
#pragma once

#include <cstddef>
#include <filesystem>

namespace backfill {

constexpr unsigned private_dir_mode = 0700;
constexpr unsigned private_file_mode = 0600;

// Creates `dir` and its missing parents, each with mode 0700. Folders that exist are left as they
// are. Throws io_error.
void make_private_dirs(const std::filesystem::path& dir);
// Makes sure the file `path` exists (created empty when missing) with mode 0600, tightening a wider
// one. For files another library creates (SQLite gives its -wal and -shm files the mode of the
// database). Throws io_error.
void make_private_file(const std::filesystem::path& path);
// Tightens a tree written before these rules or widened by hand: folders to 0700, files to 0600
// (symbolic links are not followed). Returns how many entries were changed. Throws io_error.
std::size_t tighten_tree(const std::filesystem::path& root);
// Makes the entries of `dir` durable (a file created or renamed there keeps its name after a power
// loss): fsync of the folder. Throws io_error.
void fsync_dir(const std::filesystem::path& dir);

}  // namespace backfill
