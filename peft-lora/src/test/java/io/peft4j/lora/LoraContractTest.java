package io.peft4j.lora;

import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import io.peft4j.core.contract.AdapterContractSuite;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import java.util.List;

/** LoRA passes the contract every method passes. */
class LoraContractTest extends AdapterContractSuite {

    @Override
    protected List<Case> cases() {
        return List.of(
                new Case(
                        "mlp r4",
                        TestModels.Kind.MLP,
                        LoraConfig.builder()
                                .rank(4)
                                .alpha(8)
                                .targets("Linear_1", "Linear_3")
                                .build()),
                new Case(
                        "qv r4",
                        TestModels.Kind.TRANSFORMER,
                        LoraConfig.builder().rank(4).alpha(16).targets("q_proj", "v_proj").build()),
                new Case(
                        "all-linear rslora + rank pattern",
                        TestModels.Kind.TRANSFORMER,
                        LoraConfig.builder()
                                .rank(2)
                                .alpha(4)
                                .allLinear()
                                .useRslora(true)
                                .rankPattern("down_proj", 3)
                                .alphaPattern("layers\\.1\\..*", 7)
                                .build()),
                new Case(
                        "dora",
                        TestModels.Kind.TRANSFORMER,
                        LoraConfig.builder()
                                .rank(4)
                                .alpha(8)
                                .targets("q_proj", "o_proj", "up_proj")
                                .useDora(true)
                                .build()),
                new Case(
                        "embedding + gaussian",
                        TestModels.Kind.TRANSFORMER,
                        LoraConfig.builder()
                                .rank(3)
                                .targets("embed_tokens", "k_proj")
                                .init(LoraInit.GAUSSIAN)
                                .layersToTransform(List.of(1))
                                .build()),
                new Case(
                        "dropout",
                        TestModels.Kind.TRANSFORMER,
                        LoraConfig.builder().rank(4).dropout(0.1f).targets("v_proj").build()),
                new Case(
                        "mlp + modules_to_save head",
                        TestModels.Kind.MLP,
                        LoraConfig.builder()
                                .rank(2)
                                .targets("Linear_1")
                                .modulesToSave(List.of("Linear_3"))
                                .build()),
                new Case(
                        "qv + modules_to_save lm_head and embed_tokens",
                        TestModels.Kind.TRANSFORMER,
                        LoraConfig.builder()
                                .rank(2)
                                .targets("q_proj", "v_proj")
                                .modulesToSave(List.of("lm_head", "embed_tokens"))
                                .build()),
                // DJL's own TransformerEncoderBlock: projections in fields typed Linear
                new Case(
                        "djl encoder query,value r4",
                        TestModels.Kind.DJL_ENCODER,
                        LoraConfig.builder()
                                .rank(4)
                                .alpha(8)
                                .targets("queryProjection", "valueProjection")
                                .build()),
                new Case(
                        "djl encoder all-linear dora",
                        TestModels.Kind.DJL_ENCODER,
                        LoraConfig.builder().rank(2).alpha(4).allLinear().useDora(true).build()));
    }

    @Override
    protected long expectedTrainable(Case c, Block base) {
        LoraConfig config = (LoraConfig) c.config();
        long total = 0;
        for (ModuleNode node : config.targets().select(ModuleTree.of(base))) {
            // a Linear's weight is (out, in), an embedding's (vocab, dim): r x (sum) either way
            Shape w = node.block().getDirectParameters().get("weight").getArray().getShape();
            int r = config.rankFor(node.path());
            total += (long) r * (w.get(0) + w.get(1));
            if (config.useDora()) {
                total += w.get(0);
            }
        }
        for (ModuleNode node : ModuleTree.of(base).nodes()) {
            if (config.modulesToSave().contains(node.name())) {
                for (var p : node.block().getDirectParameters()) {
                    total += p.getValue().getArray().size();
                }
            }
        }
        return total;
    }
}
