package io.peft4j.examples.toy;

import ai.djl.nn.Block;
import io.peft4j.core.contract.AdapterContractSuite;
import io.peft4j.core.contract.TestModels;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import io.peft4j.testing.toy.ToyConfig;
import java.util.List;

/** The toy method passes the contract every method passes, as a method module's own would. */
class ToyContractTest extends AdapterContractSuite {

    @Override
    protected List<Case> cases() {
        return List.of(
                new Case(
                        "mlp",
                        TestModels.Kind.MLP,
                        ToyConfig.builder().targets("Linear_1", "Linear_3").build()),
                new Case(
                        "q/v",
                        TestModels.Kind.TRANSFORMER,
                        ToyConfig.builder().targets("q_proj", "v_proj").build()),
                new Case(
                        "all-linear",
                        TestModels.Kind.TRANSFORMER,
                        ToyConfig.builder().allLinear().build()));
    }

    /** One gain per input feature of every targeted Linear. */
    @Override
    protected long expectedTrainable(Case c, Block base) {
        long total = 0;
        for (ModuleNode node : ((ToyConfig) c.config()).targets().select(ModuleTree.of(base))) {
            total += node.block().getDirectParameters().get("weight").getArray().getShape().get(1);
        }
        return total;
    }
}
