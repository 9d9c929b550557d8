package io.peft4j.masa;

import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import io.peft4j.core.contract.AdapterContractSuite;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.tree.ModuleTree;
import java.util.List;

/** MASA passes the contract every method passes. */
class MasaContractTest extends AdapterContractSuite {

    @Override
    protected List<Case> cases() {
        return List.of(
                new Case(
                        "mlp S1",
                        TestModels.Kind.MLP,
                        MasaConfig.builder().atoms(1).targets("Linear_1", "Linear_3").build()),
                new Case(
                        "qkvo S1 coefficients",
                        TestModels.Kind.TRANSFORMER,
                        MasaConfig.builder().atoms(1).build()),
                new Case(
                        "qkv S2 coefficients+atoms",
                        TestModels.Kind.TRANSFORMER,
                        MasaConfig.builder()
                                .atoms(2)
                                .targets("q_proj", "k_proj", "v_proj")
                                .mode(MasaMode.COEFFICIENTS_AND_ATOMS)
                                .build()),
                new Case(
                        "q,o 2 groups atoms",
                        TestModels.Kind.TRANSFORMER,
                        MasaConfig.builder()
                                .atoms(1)
                                .groups(2)
                                .targets("q_proj", "o_proj")
                                .mode(MasaMode.COEFFICIENTS_AND_ATOMS)
                                .build()),
                // DJL's own TransformerEncoderBlock: projections in fields typed Linear
                new Case(
                        "djl encoder qkvo S1 coefficients+atoms (one layer: S <= L)",
                        TestModels.Kind.DJL_ENCODER,
                        MasaConfig.builder()
                                .atoms(1)
                                .targets(
                                        "queryProjection",
                                        "keyProjection",
                                        "valueProjection",
                                        "resultProjection")
                                .mode(MasaMode.COEFFICIENTS_AND_ATOMS)
                                .build()));
    }

    @Override
    protected long expectedTrainable(Case c, Block base) {
        MasaConfig config = (MasaConfig) c.config();
        long total = 0;
        for (Dictionaries.Group g :
                Dictionaries.of(
                        config.targets().select(ModuleTree.of(base)),
                        config.groups(),
                        config.atoms())) {
            int layers = g.nodes().size();
            total += (long) layers * config.atoms(); // L x S coefficients
            if (config.mode() == MasaMode.COEFFICIENTS_AND_ATOMS) {
                Shape w = Dictionaries.weightOf(g.nodes().get(0).block()).getArray().getShape();
                total +=
                        config.atoms()
                                * w.get(0)
                                * w.get(1); // S atoms of (out, in), one copy per dictionary
            }
        }
        return total;
    }
}
