/**
 * A DJL block tree seen as Hugging Face module paths: {@link io.peft4j.core.tree.ModuleTree} lists
 * dotted paths, {@link io.peft4j.core.tree.ModuleReplacer} swaps a module for an adapter wrapper in
 * place (child blocks and fields), and {@link io.peft4j.core.tree.AdapterWrapper} is what such a
 * wrapper offers.
 */
package io.peft4j.core.tree;
