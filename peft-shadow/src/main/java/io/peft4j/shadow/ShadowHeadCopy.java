package io.peft4j.shadow;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import io.peft4j.core.spi.AdapterParameters;
import io.peft4j.core.tree.ModuleNode;
import io.peft4j.core.tree.ModuleTree;
import io.peft4j.core.tree.Modules;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The shadow's own classification head: trainable copies of the base head's weight and bias, used
 * in place of them when the head scores the shadow state. The substitution happens in a {@link
 * ParameterStore} (DJL blocks read every parameter through it), so the base model's own head code,
 * pooling included, runs unchanged with the copied values.
 */
final class ShadowHeadCopy {

    /** File-key prefix, the reference's module name. */
    static final String PREFIX = "shadow_classifier_head.";

    /** Child names of a classification head, in the order the reference looks for them. */
    static final String[] HEAD_NAMES = {"score", "classifier"};

    /**
     * The base's head: the block it is a child of, its child name there, and its weight and bias
     * (null when it has none).
     */
    private record BaseHead(Block stack, String childName, Parameter weight, Parameter bias) {}

    private final BaseHead base;
    final Parameter weight;
    final Parameter bias;

    private ShadowHeadCopy(BaseHead base, NDManager manager) {
        this.base = base;
        this.weight = AdapterParameters.trainableCopy(manager, PREFIX + "weight", base.weight());
        this.bias =
                base.bias() == null
                        ? null
                        : AdapterParameters.trainableCopy(manager, PREFIX + "bias", base.bias());
    }

    /**
     * The classification head below {@code stackNode} ({@code score} or {@code classifier}), or
     * null when there is none (a causal LM or a bare encoder).
     *
     * @throws IllegalArgumentException if the head exists but has no initialized weight to copy
     */
    static ShadowHeadCopy find(ModuleTree tree, ModuleNode stackNode, NDManager manager) {
        for (String name : HEAD_NAMES) {
            String path = stackNode.path().isEmpty() ? name : stackNode.path() + "." + name;
            ModuleNode node = tree.find(path).orElse(null);
            if (node == null) {
                continue;
            }
            Block head = node.block();
            Parameter w = Modules.parameter(head, "weight");
            if (w == null || !w.isInitialized() || w.getArray().getShape().dimension() != 2) {
                throw new IllegalArgumentException(
                        "shadow_head \"own\" copies the classification head '"
                                + path
                                + "', but it is a "
                                + head.getClass().getSimpleName()
                                + " without an initialized 2-D weight"
                                + " (another adapter on it?); set shadow_head to \"shared\"");
            }
            Parameter b = Modules.parameter(head, "bias");
            return new ShadowHeadCopy(
                    new BaseHead(
                            stackNode.block(), name, w, b != null && b.isInitialized() ? b : null),
                    manager);
        }
        return null;
    }

    /** The copies by file key. */
    Map<String, Parameter> parameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        out.put(PREFIX + "weight", weight);
        if (bias != null) {
            out.put(PREFIX + "bias", bias);
        }
        return out;
    }

    /**
     * A parameter store that hands out the copies wherever the base head reads its own parameters,
     * including the trained copies {@code modules_to_save} wraps the head with (installed after the
     * method, so they are looked up at call time): the shadow path never sees the base path's head.
     */
    ParameterStore store(NDManager manager, boolean copy) {
        Set<Parameter> weights = new HashSet<>();
        Set<Parameter> biases = new HashSet<>();
        weights.add(base.weight());
        if (base.bias() != null) {
            biases.add(base.bias());
        }
        Block current = currentHead();
        if (current != null) {
            for (Pair<String, Parameter> p : current.getParameters()) {
                String name = p.getValue().getName();
                if (name != null && name.startsWith("modules_to_save.")) {
                    (name.endsWith(".bias") ? biases : weights).add(p.getValue());
                }
            }
        }
        return new ParameterStore(manager, copy) {
            @Override
            public NDArray getValue(Parameter parameter, Device device, boolean training) {
                if (weights.contains(parameter)) {
                    return super.getValue(weight, device, training);
                }
                if (bias != null && biases.contains(parameter)) {
                    return super.getValue(bias, device, training);
                }
                return super.getValue(parameter, device, training);
            }
        };
    }

    /** The block now at the head's place under the stack (the head, or a wrapper around it). */
    private Block currentHead() {
        for (Pair<String, Block> c : base.stack().getChildren()) {
            String key = c.getKey();
            if (key.equals(base.childName())
                    || key.replaceFirst("^[0-9]+", "").equals(base.childName())) {
                return c.getValue();
            }
        }
        return null;
    }

    void close() {
        weight.close();
        if (bias != null) {
            bias.close();
        }
    }
}
