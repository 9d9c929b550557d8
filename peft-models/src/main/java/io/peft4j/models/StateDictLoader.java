package io.peft4j.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Puts named tensors into a model's parameters by Hugging Face name, strictly: every parameter must
 * get a tensor of its exact shape and every tensor must find a parameter, except those a {@link
 * KeyRule} ignores and those derived from others (a tied head), and every weight must be floating
 * point. All problems are found before anything is loaded, so a refused checkpoint leaves the model
 * as it was.
 */
final class StateDictLoader {

    /** Maps a checkpoint name to a parameter name, or says why it is ignored. */
    interface KeyRule extends Function<String, String> {
        /**
         * @param checkpointName name in the checkpoint
         * @return the model parameter name, or a string starting with {@code "!"} followed by the
         *     reason the tensor is ignored
         */
        @Override
        String apply(String checkpointName);
    }

    private StateDictLoader() {}

    static LoadReport load(
            Block model,
            TensorSource source,
            KeyRule rule,
            String sourceName,
            Set<String> mayBeMissing,
            Set<String> derived) {
        Map<String, Parameter> params = ModulePaths.namedParameters(model);
        Map<String, String> plan = new LinkedHashMap<>();
        List<String> ignored = new ArrayList<>();
        List<String> unexpected = new ArrayList<>();
        List<String> mismatched = new ArrayList<>();
        for (String name : source.names()) {
            String target = rule.apply(name);
            if (target.startsWith("!")) {
                ignored.add(name + ": " + target.substring(1));
                continue;
            }
            Parameter p = params.get(target);
            if (p == null || derived.contains(target)) {
                unexpected.add(
                        name
                                + (target.equals(name) ? "" : " (as " + target + ")")
                                + " "
                                + source.shape(name)
                                + " in "
                                + source.origin(name));
                continue;
            }
            if (plan.containsValue(target)) {
                unexpected.add(name + ": a second tensor for " + target);
                continue;
            }
            if (!p.isInitialized()) {
                throw new IllegalStateException(
                        "Parameter "
                                + target
                                + " has no array: initialize the model before loading");
            }
            Shape expected = p.getArray().getShape();
            Shape found = source.shape(name);
            if (!expected.equals(found)) {
                mismatched.add(
                        target
                                + ": checkpoint "
                                + found
                                + " ("
                                + source.origin(name)
                                + "), model expects "
                                + expected);
            }
            DataType type = source.dataType(name);
            if (!type.isFloating()) {
                mismatched.add(
                        target
                                + ": checkpoint tensor "
                                + name
                                + " ("
                                + source.origin(name)
                                + ") has type "
                                + type
                                + "; a weight must be floating point");
            }
            plan.put(name, target);
        }
        List<String> missing = new ArrayList<>();
        List<String> fresh = new ArrayList<>();
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            if (derived.contains(e.getKey())) {
                continue;
            }
            if (!plan.containsValue(e.getKey()) && mayBeMissing.contains(e.getKey())) {
                fresh.add(e.getKey());
            } else if (!plan.containsValue(e.getKey())) {
                missing.add(
                        e.getKey()
                                + " "
                                + (e.getValue().isInitialized()
                                        ? e.getValue().getArray().getShape()
                                        : e.getValue().getShape()));
            }
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !mismatched.isEmpty()) {
            throw new CheckpointException(sourceName, missing, unexpected, mismatched);
        }
        for (Map.Entry<String, String> e : plan.entrySet()) {
            Parameter p = params.get(e.getValue());
            NDArray target = p.getArray();
            // types and shapes were all checked above: nothing is loaded unless everything fits.
            // The source gives an array that owns its memory, in the parameter's manager; it
            // takes the parameter's place (intern), so each tensor is allocated once.
            NDArray value = source.load(e.getKey(), target.getManager());
            value = convert(value, target.getDataType(), target.getDevice());
            target.intern(value);
            if (p.requiresGradient()) {
                target.setRequiresGradient(true);
            }
        }
        return new LoadReport(new ArrayList<>(plan.values()), ignored, fresh);
    }

    /** {@code value} in the given type and device, closing the arrays left behind. */
    private static NDArray convert(NDArray value, DataType type, ai.djl.Device device) {
        if (value.getDataType() != type) {
            NDArray typed = value.toType(type, false);
            value.close();
            value = typed;
        }
        if (!value.getDevice().equals(device)) {
            NDArray moved = value.toDevice(device, false);
            value.close();
            value = moved;
        }
        return value;
    }
}
