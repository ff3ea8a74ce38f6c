#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "support/test_support.hpp"

using namespace ned;

TEST(FsUtil, OutputPathChecks) {
    test::TempDir dir;
    EXPECT_NO_THROW(check_output_path(dir / "new.mp4", false));
    EXPECT_THROW(check_output_path(dir / "missing_folder/new.mp4", false), InputError);
    std::ofstream(dir / "exists.mp4") << "x";
    EXPECT_THROW(check_output_path(dir / "exists.mp4", false), InputError);
    EXPECT_NO_THROW(check_output_path(dir / "exists.mp4", true));
    EXPECT_THROW(check_output_path(dir.path(), true), InputError);
}

TEST(FsUtil, AtomicFileRemovesTempUnlessCommitted) {
    test::TempDir dir;
    std::string tmp;
    {
        AtomicFile f(dir / "out.txt", false);
        tmp = f.temp_path();
        EXPECT_EQ(std::filesystem::path(tmp).extension(), ".txt");
        std::ofstream(tmp) << "partial";
    }
    EXPECT_FALSE(std::filesystem::exists(tmp));
    EXPECT_FALSE(std::filesystem::exists(dir / "out.txt"));
    {
        AtomicFile f(dir / "out.txt", false);
        std::ofstream(f.temp_path()) << "done";
        f.commit();
    }
    EXPECT_TRUE(std::filesystem::exists(dir / "out.txt"));
}

TEST(FsUtil, FrameNamesArePadded) {
    EXPECT_EQ(frame_name(7, ".png"), "000007.png");
    EXPECT_EQ(frame_name(1234567, ".png"), "1234567.png");
}

TEST(FsUtil, RemoveAndFindFilesByExtension) {
    ned::test::TempDir dir;
    EXPECT_FALSE(ned::has_files_with_extension(dir / "missing", ".png"));
    ned::remove_files_with_extension(dir / "missing", ".png");  // a missing folder is fine
    for (const char* name : {"000000.png", "000001.png", "notes.txt"}) std::ofstream(dir / name) << "x";
    std::filesystem::create_directory(dir / "sub.png");  // a folder is not a file
    EXPECT_TRUE(ned::has_files_with_extension(dir.path(), ".png"));
    ned::remove_files_with_extension(dir.path(), ".png");
    EXPECT_FALSE(ned::has_files_with_extension(dir.path(), ".png"));
    EXPECT_TRUE(std::filesystem::exists(dir / "notes.txt"));
    EXPECT_TRUE(std::filesystem::is_directory(dir / "sub.png"));
}
