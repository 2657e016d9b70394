//! The functions a Transformer layer is made of, on plain vectors, named as in PyTorch's
//! `torch.nn.functional`: for computing a layer by hand (notebook 07) and getting the numbers
//! `forward` gets. GELU, softmax and layer norm are the kernels the models run, so a layer
//! rebuilt from them matches the model's hidden state to float rounding.
//!
//! ```
//! use transformer_nb::functional::{gelu, layer_norm, softmax};
//!
//! let p = softmax(&[1.0, 2.0, 3.0]);
//! assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6 && p[2] > p[1]);
//! assert!((gelu(&[1.0])[0] - 0.841_344_7).abs() < 1e-6);     // x · Φ(x)
//! let normed = layer_norm(&[1.0, 2.0, 3.0], &[1.0; 3], &[0.0; 3], 1e-12)?;
//! assert!(normed.iter().sum::<f32>().abs() < 1e-6);          // mean 0, variance 1
//! # Ok::<(), transformer_nb::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::kernels::{Isa, math};
use crate::tensor::Tensor;

/// `weight · x + bias`, for a PyTorch `Linear` whose `weight` is `[out, in]` (as
/// [`Bert::weight`](crate::Bert::weight) returns it) and `x` one vector of `in` values.
///
/// ```
/// use transformer_nb::{Tensor, functional::linear};
///
/// let weight = Tensor::from_vec(vec![1.0, 0.0, 0.0, 2.0, 1.0, 1.0], [3, 2])?;
/// let bias = Tensor::from_vec(vec![0.5, 0.5, 0.5], [3])?;
/// assert_eq!(linear(&[1.0, 2.0], &weight, Some(&bias))?, [1.5, 4.5, 3.5]);
/// # Ok::<(), transformer_nb::Error>(())
/// ```
pub fn linear(x: &[f32], weight: &Tensor, bias: Option<&Tensor>) -> Result<Vec<f32>> {
    let [out, inputs] = weight.dims() else {
        return Err(Error::invalid(format!(
            "linear: the weight has shape {:?}, not [out, in]",
            weight.dims()
        )));
    };
    if x.len() != *inputs {
        return Err(Error::invalid(format!(
            "linear: x has {} values and the weight takes {inputs} (its shape is [{out}, \
             {inputs}]: [out, in])",
            x.len()
        )));
    }
    let bias = match bias {
        Some(bias) if bias.elem_count() != *out => {
            return Err(Error::invalid(format!(
                "linear: the bias has {} values and the weight gives {out}",
                bias.elem_count()
            )));
        }
        Some(bias) => bias.values(),
        None => &[],
    };
    Ok(weight
        .values()
        .chunks_exact(*inputs)
        .enumerate()
        .map(|(o, row)| {
            let dot: f32 = row.iter().zip(x).map(|(w, x)| w * x).sum();
            dot + bias.get(o).copied().unwrap_or(0.0)
        })
        .collect())
}

/// `e^x_i / Σ_j e^x_j`: weights that are positive and sum to 1 (a row of attention).
pub fn softmax(x: &[f32]) -> Vec<f32> {
    let mut row = x.to_vec();
    math::scaled_masked_softmax(Isa::detect(), &mut row, x.len(), 1.0, &vec![0.0; x.len()]);
    row
}

/// GELU, `x · Φ(x)` with the normal distribution's `Φ` (through `erf`), as PyTorch's `gelu`
/// and BERT's `hidden_act: "gelu"`.
pub fn gelu(x: &[f32]) -> Vec<f32> {
    let mut values = x.to_vec();
    math::gelu_erf(Isa::detect(), &mut values);
    values
}

/// Layer norm of one vector: `(x − mean) / √(variance + eps) · weight + bias`, the variance
/// without Bessel's correction, as PyTorch's `layer_norm`. BERT's `eps` is `layer_norm_eps` in
/// its config (1e-12).
pub fn layer_norm(x: &[f32], weight: &[f32], bias: &[f32], eps: f32) -> Result<Vec<f32>> {
    if weight.len() != x.len() || bias.len() != x.len() {
        return Err(Error::invalid(format!(
            "layer_norm: x has {} values, the weight {} and the bias {}: all three must be equal",
            x.len(),
            weight.len(),
            bias.len()
        )));
    }
    let mut values = x.to_vec();
    math::layer_norm(Isa::detect(), &mut values, x.len(), weight, bias, eps);
    Ok(values)
}
