// oarriaga's FER2013 classifier (TF.js graph) against human in TF.js on the synthetic image (photos:
// test_facenet_data.cpp).
#include <gtest/gtest.h>

#include "ned/core/error.hpp"
#include "ned/facenet/emotion_fer2013.hpp"
#include "unit/facenet/parity.hpp"

using namespace ned::facenet;
using namespace ned::facenet::test;

TEST(FacenetFer2013, MatchesTfjsOnTheSyntheticImage) {
    const auto ref = reference()["images"]["synthetic"];
    const auto p = EmotionFer2013().probabilities(synthetic_image(), box_of(ref["box"]));
    ASSERT_EQ(p.size(), 7u);
    const double err = max_error(p, ref["fer2013"]);
    EXPECT_LE(err, kFer2013Rel) << "max FER2013 probability error";
    std::printf("synthetic parity: FER2013 %.3g\n", err);
}

TEST(FacenetFer2013, NamesInFer2013Order) {
    EXPECT_EQ(EmotionFer2013::names(),
              (std::vector<std::string>{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}));
}

TEST(FacenetFer2013, EmptyBoxIsAnInputError) {
    EXPECT_THROW(EmotionFer2013().probabilities(synthetic_image(), {0, 0, 0, 0}), ned::InputError);
}
