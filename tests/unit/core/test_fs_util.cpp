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
