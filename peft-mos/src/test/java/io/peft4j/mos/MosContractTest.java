package io.peft4j.mos;

import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import io.peft4j.core.contract.AdapterContractSuite;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** MoS passes the contract every method passes. */
class MosContractTest extends AdapterContractSuite {

    @Override
    protected List<Case> cases() {
        return List.of(
                // L = 1 per type on the MLP, so r <= v there.
                new Case(
                        "mlp v4 r4 l2 p1",
                        TestModels.Kind.MLP,
                        MosConfig.builder()
                                .equivalentRank(4)
                                .rank(4)
                                .shardsPerVector(2)
                                .privateRank(1)
                                .dropout(0)
                                .targets("Linear_1", "Linear_3")
                                .build()),
                new Case(
                        "qv v2 r3 l4 p1",
                        TestModels.Kind.TRANSFORMER,
                        MosConfig.builder()
                                .equivalentRank(2)
                                .rank(3)
                                .shardsPerVector(4)
                                .privateRank(1)
                                .dropout(0)
                                .targets("q_proj", "v_proj")
                                .build()),
                new Case(
                        "all-linear v3 r5 l2 p1",
                        TestModels.Kind.TRANSFORMER,
                        MosConfig.builder()
                                .equivalentRank(3)
                                .rank(5)
                                .shardsPerVector(2)
                                .privateRank(1)
                                .dropout(0)
                                .allLinear()
                                .build()),
                new Case(
                        "no private v2 r4 l1 p0",
                        TestModels.Kind.TRANSFORMER,
                        MosConfig.builder()
                                .equivalentRank(2)
                                .rank(4)
                                .shardsPerVector(1)
                                .privateRank(0)
                                .dropout(0)
                                .targets("k_proj", "o_proj", "down_proj")
                                .build()),
                new Case(
                        "p=v=r (LoRA) + dropout",
                        TestModels.Kind.TRANSFORMER,
                        MosConfig.builder()
                                .equivalentRank(2)
                                .rank(2)
                                .shardsPerVector(2)
                                .privateRank(2)
                                .dropout(0.1f)
                                .targets("up_proj")
                                .build()),
                // DJL's own TransformerEncoderBlock: projections in fields typed Linear
                new Case(
                        "djl encoder all-linear v4 r4 l2 p1",
                        TestModels.Kind.DJL_ENCODER,
                        MosConfig.builder()
                                .equivalentRank(4)
                                .rank(4)
                                .shardsPerVector(2)
                                .privateRank(1)
                                .dropout(0)
                                .allLinear()
                                .build()));
    }

    @Override
    protected long expectedTrainable(Case c, Block base) {
        MosConfig config = (MosConfig) c.config();
        Map<String, long[]> types = new LinkedHashMap<>(); // type -> {L, in + out}
        for (ModuleNode node : config.targets().select(ModuleTree.of(base))) {
            Shape w = node.block().getDirectParameters().get("weight").getArray().getShape();
            String type = node.path().replaceAll("(^|\\.)\\d+(?=\\.|$)", "$1*");
            types.computeIfAbsent(type, k -> new long[] {0, w.get(0) + w.get(1)})[0]++;
        }
        long total = 0;
        for (long[] t : types.values()) {
            total += config.equivalentRank() * t[0] * t[1]; // v L (in + out): a rank-v LoRA's count
        }
        return total;
    }
}
