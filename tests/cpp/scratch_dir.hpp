// A fresh directory for each test, named after it and removed after it; and one with a ledger in it.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "backfill/ledger/ledger.hpp"

class scratch_dir_test : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() / ("backfill-" + std::string(info->test_suite_name()) +
                                                     "-" + info->name() + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::filesystem::path dir_;
};

class scratch_ledger_test : public scratch_dir_test {
 protected:
  void SetUp() override {
    scratch_dir_test::SetUp();
    reopen_ledger();
  }
  void TearDown() override {
    book_.reset();
    scratch_dir_test::TearDown();
  }
  std::filesystem::path ledger_path() const { return dir_ / "state.sqlite"; }
  void reopen_ledger() {
    book_.reset();
    book_ = std::make_unique<backfill::ledger>(ledger_path());
  }

  std::unique_ptr<backfill::ledger> book_;
};
