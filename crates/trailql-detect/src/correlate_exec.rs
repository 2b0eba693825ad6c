//! Correlations as a plan node, for `detections()` in SQL: the alerts of its input (a
//! [`crate::DetectExec`] that feeds correlations) sorted by event time, read through
//! [`correlate`], so the table's rows include the correlations' alerts.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{internal_err, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::expressions::col;
use datafusion::physical_expr::{
    Distribution, EquivalenceProperties, LexOrdering, OrderingRequirements, PhysicalExpr,
    PhysicalSortExpr,
};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;
use trailql_rules::{Correlator, Detector, RuleSet};
use trailql_sql::ScanReport;

use crate::alert;
use crate::correlate::{correlate, Correlation};

/// Sorts its input's alerts by event time and runs the correlations over them; one partition.
pub struct CorrelateExec {
    input: Arc<dyn ExecutionPlan>,
    rules: Arc<RuleSet>,
    detector: Arc<Detector>,
    report: Arc<ScanReport>,
    projection: Option<Vec<usize>>,
    /// By event time: the order the correlator needs (declared, so no optimizer drops the sort).
    ordering: LexOrdering,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for CorrelateExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorrelateExec")
            .field("correlations", &self.rules.correlations.len())
            .finish()
    }
}

impl CorrelateExec {
    /// `detect` is a plan whose rows are alerts with the feed columns; the correlations are
    /// those of `rules` over the rules of `detector`; `projection` picks alert columns.
    pub fn new(
        detect: Arc<dyn ExecutionPlan>,
        rules: Arc<RuleSet>,
        detector: Arc<Detector>,
        report: Arc<ScanReport>,
        projection: Option<Vec<usize>>,
    ) -> Result<CorrelateExec> {
        let ordering = LexOrdering::new([PhysicalSortExpr::new_default(col(
            "event_time",
            &detect.schema(),
        )?)])
        .expect("one sort expression");
        let one = Arc::new(CoalescePartitionsExec::new(detect));
        let input: Arc<dyn ExecutionPlan> = Arc::new(SortExec::new(ordering.clone(), one));
        let full = alert::schema();
        let schema = match &projection {
            Some(p) => Arc::new(full.project(p)?),
            None => full,
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Ok(CorrelateExec {
            input,
            rules,
            detector,
            report,
            projection,
            ordering,
            schema,
            properties: Arc::new(properties),
        })
    }
}

impl DisplayAs for CorrelateExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "CorrelateExec: correlations={}",
            self.rules.correlations.len()
        )
    }
}

impl ExecutionPlan for CorrelateExec {
    fn name(&self) -> &str {
        "CorrelateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        vec![Some(OrderingRequirements::from(self.ordering.clone()))]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children).or_else(|_| internal_err!("one child"))?;
        Ok(Arc::new(CorrelateExec {
            input,
            rules: self.rules.clone(),
            detector: self.detector.clone(),
            report: self.report.clone(),
            projection: self.projection.clone(),
            ordering: self.ordering.clone(),
            schema: self.schema.clone(),
            properties: self.properties.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("CorrelateExec has one partition, not {partition}");
        }
        // Each run starts with empty windows.
        let (correlator, _) = Correlator::new(&self.rules, &self.detector);
        let Some(correlator) = correlator else {
            return internal_err!("CorrelateExec without correlations");
        };
        let sorted = self.input.execute(0, context)?;
        let alerts = correlate(sorted, Correlation::new(correlator), self.report.clone());
        let Some(projection) = self.projection.clone() else {
            return Ok(alerts);
        };
        let projected = alerts.map(move |b| Ok(b?.project(&projection)?));
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            projected,
        )))
    }
}
