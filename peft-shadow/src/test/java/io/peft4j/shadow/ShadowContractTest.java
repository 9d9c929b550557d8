package io.peft4j.shadow;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import io.peft4j.core.contract.AdapterContractSuite;
import io.peft4j.core.contract.TestModels;
import java.util.List;

/**
 * ShadowPEFT passes the contract every method passes, on tiny random LLaMA and BERT bases from
 * peft-models (the suite's own test models are not layer stacks). Merge checks become "merge is
 * refused".
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
                        ShadowConfig.builder().shadowHead(ShadowHead.SHARED).build()));
    }

    private static boolean isBert(Case c) {
        return c.label().startsWith("bert");
    }

    private static boolean isClassifier(Case c) {
        return c.label().startsWith("bert classifier");
    }

    @Override
    protected Block createBase(Case c, NDManager m, long seed) {
        if (isClassifier(c)) {
            return ShadowTestModels.bertClassifier(m, seed, 2);
        }
        return isBert(c) ? ShadowTestModels.bert(m, seed, 2) : ShadowTestModels.llama(m, seed, 3);
    }

    @Override
    protected NDList createInput(Case c, NDManager m, long seed) {
        return new NDList(ShadowTestModels.ids(m, seed, 3, 5));
    }

    @Override
    protected long expectedTrainable(Case c, Block base) {
        int h = ShadowTestModels.HIDDEN;
        ShadowConfig cfg = (ShadowConfig) c.config();
        long shadow;
        int layers;
        if (isBert(c)) {
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
