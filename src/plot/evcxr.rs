//! Charts in evcxr notebooks: using the hlab crate from Rust in Jupyter
//! (the evcxr kernel), a [`Figure`], a [`Spectrum`] or a [`Density`] as
//! the value of a cell shows as SVG (the same chart as `plot(value)`
//! draws), with the text chart as the plain-text fallback. (A script
//! `Plot` has the same display, next to its type in `script::types`.)
//!
//! evcxr calls a value's `evcxr_display` method; it prints each MIME type
//! through `evcxr_runtime`, and the notebook picks the richest.

use super::{views, Figure};
use crate::spectrum::{Density, Spectrum};

impl Figure {
    /// Shows the figure in an evcxr notebook: `image/svg+xml` plus `text/plain`.
    pub fn evcxr_display(&self) {
        evcxr_runtime::mime_type("text/plain").text(self.to_text());
        match self.to_svg() {
            Ok(svg) => evcxr_runtime::mime_type("image/svg+xml").text(svg),
            Err(e) => evcxr_runtime::mime_type("text/plain").text(e.to_string()),
        }
    }
}

impl evcxr_runtime::Display for Figure {
    fn evcxr_display(&self) {
        Figure::evcxr_display(self)
    }
}

impl Spectrum {
    /// Shows eigenvalue against rank in an evcxr notebook, as `plot(s)`.
    pub fn evcxr_display(&self) {
        views::spectrum(self, false).evcxr_display()
    }
}

impl evcxr_runtime::Display for Spectrum {
    fn evcxr_display(&self) {
        Spectrum::evcxr_display(self)
    }
}

impl Density {
    /// Shows the density in an evcxr notebook, as `plot(d)`.
    pub fn evcxr_display(&self) {
        views::density(self).evcxr_display()
    }
}

impl evcxr_runtime::Display for Density {
    fn evcxr_display(&self) {
        Density::evcxr_display(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::{Chart, Series};

    #[test]
    fn spectra_and_densities_have_an_evcxr_display() {
        fn shows<T: evcxr_runtime::Display>(v: &T) {
            v.evcxr_display();
        }
        let s = Spectrum::new(
            vec![3.0, -0.1, 0.0, 0.2],
            crate::spectrum::SpectrumInfo::new("dense", "Hessian"),
        )
        .unwrap();
        shows(&s);
        let d = Density {
            x: vec![0.0, 1.0, 2.0],
            y: vec![0.25, 0.5, 0.25],
            nodes: vec![vec![1.0]],
            weights: vec![vec![1.0]],
            info: crate::spectrum::SpectrumInfo::new("slq", "Hessian"),
        };
        shows(&d);
    }

    #[test]
    fn figures_have_an_evcxr_display() {
        fn shows<T: evcxr_runtime::Display>(v: &T) {
            v.evcxr_display();
        }
        let chart = Chart::new().with_series(Series::line("y", vec![0.0, 1.0], vec![1.0, 2.0]));
        let fig = Figure::new(vec![chart]);
        shows(&fig);
    }
}
