// face-api's expression net against face-api in TF.js on the synthetic image (photos: test_facenet_data.cpp).
#include <gtest/gtest.h>

#include <numeric>

#include "ned/facenet/expression_net.hpp"
#include "unit/facenet/parity.hpp"

using namespace ned::facenet;
using namespace ned::facenet::test;

TEST(FacenetExpression, MatchesTfjsOnTheSyntheticImage) {
    const auto ref = reference()["images"]["synthetic"];
    const auto p = ExpressionNet().probabilities(synthetic_image(), box_of(ref["box"]));
    ASSERT_EQ(p.size(), 7u);
    EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-5);
    const double err = max_error(p, ref["expressions"]);
    EXPECT_LE(err, kFeatureRel) << "max probability error";
    std::printf("synthetic parity: probabilities %.3g\n", err);
}

TEST(FacenetExpression, NamesInFaceApiOrder) {
    EXPECT_EQ(ExpressionNet::names(),
              (std::vector<std::string>{"neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"}));
}
