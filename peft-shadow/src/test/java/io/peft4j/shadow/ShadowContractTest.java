package io.peft4j.shadow;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import io.peft4j.core.contract.AdapterContractSuite;
import io.peft4j.core.contract.TestModels;
import java.util.List;

/**
 * ShadowPEFT passes the contract every method passes, on tiny random LLaMA and BERT bases from
 * peft-models (the suite's own test models are not layer stacks), and on DJL's own transformer: the
 * suite's DJL encoder with three {@code TransformerEncoderBlock}s in its SequentialBlock (the
 * shadow needs at least two layers), whose shadow is built from DJL's block. Merge checks become
 * "merge is refused".
 */
class ShadowContractTest extends AdapterContractSuite {

    @Override
    protected List<Case> cases() {
        return List.of(
                new Case(
                        "llama default",
                        TestModels.Kind.TRANSFORMER,
                        ShadowConfig.builder().build()),
                new Case(
                        "llama narrow 2-layer shadow + projection",
                        TestModels.Kind.TRANSFORMER,
                        ShadowConfig.builder()
                                .shadowHiddenSize(8)
                                .numShadowLayers(2)
                                .injectionSize(4)
                                .gateSize(3)
                                .build()),
                new Case(
                        "bert default",
                        TestModels.Kind.TRANSFORMER,
                        ShadowConfig.builder().dropout(0.1f).build()),
                new Case(
                        "bert classifier own head",
                        TestModels.Kind.TRANSFORMER,
                        ShadowConfig.builder().build()),
                new Case(
                        "bert classifier shared head",
                        TestModels.Kind.TRANSFORMER,
                        ShadowConfig.builder().shadowHead(ShadowHead.SHARED).build()),
                new Case(
                        "djl default", TestModels.Kind.DJL_ENCODER, ShadowConfig.builder().build()),
                new Case(
                        "djl narrow 2-layer shadow + projection",
                        TestModels.Kind.DJL_ENCODER,
                        ShadowConfig.builder()
                                .shadowHiddenSize(8)
                                .numShadowLayers(2)
                                .injectionSize(4)
                                .gateSize(3)
                                .dropout(0.1f)
                                .build()));
    }

    /** Encoder blocks in the DJL case's SequentialBlock. */
    private static final int DJL_LAYERS = 3;

    private static boolean isDjl(Case c) {
        return c.kind() == TestModels.Kind.DJL_ENCODER;
    }

    private static boolean isBert(Case c) {
        return c.label().startsWith("bert");
    }

    private static boolean isClassifier(Case c) {
        return c.label().startsWith("bert classifier");
    }

    @Override
    protected Block createBase(Case c, NDManager m, long seed) {
        if (isDjl(c)) {
            return TestModels.djlEncoder(m, seed, DJL_LAYERS);
        }
        if (isClassifier(c)) {
            return ShadowTestModels.bertClassifier(m, seed, 2);
        }
        return isBert(c) ? ShadowTestModels.bert(m, seed, 2) : ShadowTestModels.llama(m, seed, 3);
    }

    @Override
    protected NDList createInput(Case c, NDManager m, long seed) {
        if (isDjl(c)) {
            return TestModels.input(c.kind(), m, seed);
        }
        return new NDList(ShadowTestModels.ids(m, seed, 3, 5));
    }

    @Override
    protected long expectedTrainable(Case c, Block base) {
        int h = ShadowTestModels.HIDDEN;
        ShadowConfig cfg = (ShadowConfig) c.config();
        long shadow;
        int layers;
        if (isDjl(c)) {
            // base: 16 wide, 2 heads of 8, feed-forward 32 -> shadow DJL blocks with biases and two
            // BatchNorms (scale + shift; running statistics are state, not trained), feed-forward
            // 16
            shadow =
                    cfg.shadowHiddenSize() == 8
                            ? ShadowTestModels.shadowCount(ShadowFamily.DJL, 2, 8, 16, 1, 1, h)
                            : ShadowTestModels.shadowCount(ShadowFamily.DJL, 1, 16, 16, 2, 2, h);
            layers = DJL_LAYERS;
        } else if (isBert(c)) {
            // base: 2 heads of 8, intermediate 24 -> shadow 16 wide, 2 heads, intermediate 12
            shadow = ShadowTestModels.shadowCount(ShadowFamily.BERT, 1, 16, 12, 2, 2, h);
            layers = 2;
        } else if (cfg.shadowHiddenSize() == 8) {
            // head width 8 as the base -> 1 head, 1 kv head; intermediate 24 / 2
            shadow = ShadowTestModels.shadowCount(ShadowFamily.LLAMA, 2, 8, 12, 1, 1, h);
            layers = 3;
        } else {
            shadow = ShadowTestModels.shadowCount(ShadowFamily.LLAMA, 1, 16, 12, 2, 1, h);
            layers = 3;
        }
        // the own classification head: a copy of the 2-class classifier (weight 2 x h, bias 2)
        long ownHead = isClassifier(c) && cfg.shadowHead() == ShadowHead.OWN ? 2L * h + 2 : 0;
        return ShadowTestModels.adapterCount(shadow, layers, h, cfg.injectionSize(), cfg.gateSize())
                + ownHead;
    }
}
