use annals::saga::{Plan, React, Saga, StepContext, StepError, StepOutput, Steps};
use annals::{Event, Recorded};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Placed { order: String }
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Paid { order: String }

#[derive(Event, Clone, Debug, PartialEq)]
enum OrderEvent { Placed(Placed), Paid(Paid) }

#[derive(Saga, Default, Serialize, Deserialize)]
#[saga(starts(OrderEvent), id = order)]
struct Checkout;

#[annals::async_trait]
impl Steps for Checkout {
    type Step = ();
    type Services = ();
    async fn perform(_: &(), _: &StepContext<'_, ()>) -> Result<StepOutput, StepError> {
        Ok(StepOutput::none())
    }
}

impl React<Placed> for Checkout {
    fn react(&mut self, _: Recorded<'_, Placed>, _: &mut Plan<()>) {}
}

fn main() {}
