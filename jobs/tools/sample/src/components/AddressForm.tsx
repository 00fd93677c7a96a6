import { useState } from "react";
import type { Address } from "../api/orders";
import { isPostalCode } from "../lib/validation";

export function AddressForm({ onChange }: { onChange: (address: Address | null) => void }) {
  const [fields, setFields] = useState({ name: "", street: "", city: "", postalCode: "" });

  function update(name: keyof typeof fields, value: string) {
    const next = { ...fields, [name]: value };
    setFields(next);
    const complete = next.name && next.street && next.city && isPostalCode(next.postalCode);
    onChange(complete ? next : null);
  }

  return (
    <fieldset>
      <legend>Delivery address</legend>
      {(["name", "street", "city", "postalCode"] as const).map((name) => (
        <label key={name}>
          {name}
          <input value={fields[name]} onChange={(e) => update(name, e.target.value)} />
        </label>
      ))}
    </fieldset>
  );
}
