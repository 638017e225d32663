//! Charts in evcxr notebooks: using the hlab crate from Rust in Jupyter
//! (the evcxr kernel), a [`Figure`] or a script [`Plot`] as the value of a
//! cell shows as SVG, with the text chart as the plain-text fallback.
//!
//! evcxr calls a value's `evcxr_display` method; it prints each MIME type
//! through `evcxr_runtime`, and the notebook picks the richest.

use super::Figure;
use crate::script::types::Plot;

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

impl Plot {
    /// Shows the plot in an evcxr notebook (see [`Figure::evcxr_display`]).
    pub fn evcxr_display(&self) {
        self.fig.evcxr_display()
    }
}

impl evcxr_runtime::Display for Plot {
    fn evcxr_display(&self) {
        Plot::evcxr_display(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::{Chart, Series};

    #[test]
    fn figures_and_plots_have_an_evcxr_display() {
        fn shows<T: evcxr_runtime::Display>(v: &T) {
            v.evcxr_display();
        }
        let chart = Chart::new().with_series(Series::line("y", vec![0.0, 1.0], vec![1.0, 2.0]));
        let fig = Figure::new(vec![chart]);
        shows(&fig);
        shows(&Plot {
            fig: std::sync::Arc::new(fig),
            id: 0,
        });
    }
}
