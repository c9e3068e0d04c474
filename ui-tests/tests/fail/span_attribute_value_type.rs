// A value of a type that cannot be an attribute is reported at the expression, inside a
// plugin module as outside it.
#[backstage_telemetry::backstage_plugin(id = "billing")]
mod billing {
    pub struct Customer {
        pub name: String,
    }

    #[backstage_telemetry::span(attributes(billing.customer = customer))]
    pub fn charge(customer: &Customer) -> usize {
        customer.name.len()
    }
}

#[backstage_telemetry::span(plugin = "billing", attributes(billing.amounts = amounts))]
pub fn total(amounts: Vec<u32>) -> u32 {
    amounts.iter().sum()
}

fn main() {}
